"""PPO: the formulas against hand computations, KL against the reference, and a toy task it must learn."""
import math

import pytest
import torch

from recai.nn.llama import Llama
from recai.nn.lora import apply_lora
from recai.text import Tokenizer
from recai.train.ppo import (PPOConfig, ValueHead, adapt_kl_coef, gae, policy_loss, score_tokens, to_batch,
                             train_ppo, value_loss, Sample)


def test_gae_matches_a_hand_computation():
    rewards = torch.tensor([[1.0, 0.0, 2.0], [0.0, 1.0, 5.0]])
    values = torch.tensor([[0.5, 0.2, 0.1], [0.3, 0.4, 9.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]])  # the second response has two tokens
    adv, ret = gae(rewards, values, mask, gamma=0.9, lam=0.8)
    # Row 0, backwards: δ2 = 2 - 0.1 = 1.9; δ1 = 0 + 0.9·0.1 - 0.2 = -0.11, A1 = -0.11 + 0.72·1.9 = 1.258;
    # δ0 = 1 + 0.9·0.2 - 0.5 = 0.68, A0 = 0.68 + 0.72·1.258 = 1.58576.
    # Row 1 (token 2 is padding): δ1 = 1 - 0.4 = 0.6; δ0 = 0.9·0.4 - 0.3 = 0.06, A0 = 0.06 + 0.72·0.6 = 0.492.
    assert torch.allclose(adv, torch.tensor([[1.58576, 1.258, 1.9], [0.492, 0.6, 0.0]]), atol=1e-6)
    assert torch.allclose(ret, torch.tensor([[2.08576, 1.458, 2.0], [0.792, 1.0, 0.0]]), atol=1e-6)


def test_clipped_losses_match_their_formulas():
    old = torch.zeros(1, 3)
    logp = torch.log(torch.tensor([[1.5, 0.5, 1.1]]))
    adv = torch.tensor([[1.0, -1.0, 2.0]])
    mask = torch.ones(1, 3)
    loss, clipfrac = policy_loss(logp, old, adv, mask, clip=0.2)
    # -min(ρA, clip(ρ)A): -min(1.5, 1.2) = -1.2; -min(-0.5, -0.8) = 0.8; -min(2.2, 2.2) = -2.2.
    assert loss.item() == pytest.approx((-1.2 + 0.8 - 2.2) / 3, abs=1e-6)
    assert clipfrac.item() == pytest.approx(2 / 3)
    v = value_loss(torch.tensor([[1.0, 0.0]]), torch.tensor([[0.5, 0.5]]), torch.tensor([[2.0, 0.0]]),
                   torch.ones(1, 2), clip=0.2)
    # ½ max((1-2)², (0.7-2)²) = 0.845 and ½ max(0², 0.3²) = 0.045.
    assert v.item() == pytest.approx((0.845 + 0.045) / 2, abs=1e-6)
    masked, _ = policy_loss(logp, old, adv, torch.tensor([[1.0, 0.0, 0.0]]), clip=0.2)
    assert masked.item() == pytest.approx(-1.2, abs=1e-6)


def test_the_adaptive_kl_coefficient_moves_towards_its_target_within_its_step():
    assert adapt_kl_coef(0.1, kl=4.0, target=2.0, step=0.2) == pytest.approx(0.12)  # error 1.0, clipped to 0.2
    assert adapt_kl_coef(0.1, kl=1.8, target=2.0, step=0.2) == pytest.approx(0.09)  # error -0.1
    assert adapt_kl_coef(0.1, kl=0.0, target=2.0, step=0.2) == pytest.approx(0.08)
    assert adapt_kl_coef(0.1, kl=2.0, target=2.0, step=0.2) == pytest.approx(0.1)
    with pytest.raises(ValueError, match="kl_target"):
        PPOConfig(kl_target=0.0)


@pytest.fixture()
def stories(stories_dir):
    torch.manual_seed(0)
    return Llama.from_pretrained(stories_dir / "stories260K.bin"), Tokenizer.from_pretrained(stories_dir / "tok512.model")


def test_kl_is_exactly_zero_when_the_actor_is_the_reference(stories):
    from recai.nn.lora import adapters_disabled

    model, tok = stories
    apply_lora(model, ["wq", "wv", "w2"], r=4, alpha=8)
    model.eval()
    samples = [Sample(tok.encode("Once upon a time"), tok.encode(" there was a cat", add_bos=False), "", 0),
               Sample(tok.encode("Tom"), tok.encode(" ran", add_bos=False), "", 1)]
    batch = to_batch(samples, "cpu")
    head = ValueHead(model.cfg.dim)
    with torch.no_grad():
        logp, _, _ = score_tokens(model, head, batch, False)
        with adapters_disabled(model):
            ref, _, _ = score_tokens(model, head, batch, False)
    assert torch.equal(logp * batch.mask, ref * batch.mask)
    assert (logp[batch.mask > 0] < 0).all()


def test_scores_are_taken_under_the_policy_temperature(stories):
    model, tok = stories
    model.eval()
    prompt, response = tok.encode("Once upon a time"), tok.encode(" there was", add_bos=False)
    batch = to_batch([Sample(prompt, response, "", 0)], "cpu")
    head = ValueHead(model.cfg.dim)
    with torch.no_grad():
        logp, _, ent = score_tokens(model, head, batch, False, temperature=0.5)
        logits = model(torch.tensor([prompt + response]))[0, len(prompt) - 1:-1].float() / 0.5
    expected = torch.log_softmax(logits, -1).gather(1, torch.tensor(response)[:, None]).squeeze(1)
    assert torch.allclose(logp[0], expected, atol=1e-5)
    probs = torch.softmax(logits, -1)
    assert torch.allclose(ent[0], -(probs * torch.log_softmax(logits, -1)).sum(-1), atol=1e-5)


def test_an_adaptive_kl_coefficient_is_logged_and_changes(stories):
    model, tok = stories
    apply_lora(model, ["wq", "wv"], r=4, alpha=8)
    prompt = tok.encode("Once upon a time")
    reward = lambda samples: [[0.0] * len(s.response) for s in samples]  # noqa: E731
    cfg = PPOConfig(updates=3, rollout_batch=2, minibatch=2, ppo_epochs=1, max_new_tokens=4, kl_coef=0.1,
                    kl_target=5.0, temperature=0.7, seed=0)
    history = []
    train_ppo(model, ValueHead(model.cfg.dim), tok, [prompt], reward, cfg, progress=False, log=history.append)
    # The first rollout is sampled from the reference itself (KL 0 < target), so the coefficient falls.
    assert history[0]["kl_coef"] == 0.1 and history[0]["kl"] == pytest.approx(0.0, abs=1e-6)
    assert history[1]["kl_coef"] == pytest.approx(0.08)


def test_a_toy_reward_is_learned(stories):
    """Reward 1 when the first generated token is a chosen, initially unlikely token: PPO must push
    its probability past 0.9 within a bounded number of updates."""
    model, tok = stories
    apply_lora(model, ["wq", "wk", "wv", "wo", "w1", "w2", "w3"], r=8, alpha=16)
    prompt = tok.encode("Once upon a time")
    with torch.no_grad():
        first = torch.softmax(model(torch.tensor([prompt]))[0, -1].float(), -1)
    target = int(torch.argsort(first, descending=True)[6])  # the 7th most likely first token
    start = float(first[target])

    def reward(samples):
        return [[1.0 if k == 0 and s.response[0] == target else 0.0 for k in range(len(s.response))]
                for s in samples]

    cfg = PPOConfig(updates=30, rollout_batch=16, minibatch=8, ppo_epochs=4, lr=3e-3, value_lr=1e-2,
                    max_new_tokens=2, kl_coef=0.0, seed=0)
    history = []
    train_ppo(model, ValueHead(model.cfg.dim), tok, [prompt], reward, cfg, progress=False, log=history.append)
    with torch.no_grad():
        after = float(torch.softmax(model(torch.tensor([prompt]))[0, -1].float(), -1)[target])
    assert start < 0.2 and after > 0.9, (start, after)
    assert history[-1]["reward"] > 0.8 and all(math.isfinite(r["kl"]) for r in history)
