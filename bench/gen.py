"""PPO rollouts: generation tokens/s during RecLM-gen's PPO, and the share of PPO time spent generating.

Runs a few PPO updates of SmolLM2-135M-Instruct (LoRA actor) on RecLM-gen requests over
ml-latest-small, then, as the peer, samples the same number of tokens for the same prompts with
transformers' `generate` on the same weights (loaded from the same GGUF file) and the same LoRA
adapter merged in, and prints the ratio.

    python bench/gen.py                   # 3 updates of 8 requests, 96 new tokens
    python bench/gen.py --updates 5 --rollout-batch 16
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog="\n\n".join(__doc__.split("\n\n")[1:]),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--updates", type=int, default=3)
    p.add_argument("--rollout-batch", type=int, default=8)
    p.add_argument("--max-new-tokens", type=int, default=96)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--skip-peer", action="store_true", help="no transformers comparison")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)

    from recai.data import load
    from recai.gen.tasks import GenTaskBuilder, teacher_ranks
    from recai.gen.train import gen_reward_fn
    from recai.hub import resolve
    from recai.llm import LocalLLM
    from recai.nn.lora import LLAMA_PROJECTIONS, apply_lora
    from recai.recsys import Popularity
    from recai.text.fuzzy import TitleMatcher
    from recai.train.ppo import PPOConfig, ValueHead, train_ppo

    data = load("ml-latest-small")
    split = data.split("leave-one-out")
    teacher = Popularity().fit(split.train)  # the bench times PPO, not the teacher: the cheapest one does
    builder = GenTaskBuilder(data.catalog, split.train.sequences(), teacher, data.interactions.item_counts())
    examples = [ex for ex in builder.examples(200) if ex.task != "chat"]
    llm = LocalLLM.from_spec("smollm2-135m-instruct")
    model, tok = llm.model, llm.tokenizer
    apply_lora(model, list(LLAMA_PROJECTIONS), r=8, alpha=16)
    prompts = [tok.encode_chat(ex.messages(with_answer=False)) for ex in examples]
    reward = gen_reward_fn(examples, tok, TitleMatcher(data.catalog.titles), lambda h: teacher_ranks(teacher, h),
                           builder.categories)
    cfg = PPOConfig(updates=args.updates, rollout_batch=args.rollout_batch, minibatch=min(4, args.rollout_batch),
                    max_new_tokens=args.max_new_tokens, lr=1e-5, seed=0)
    history = train_ppo(model, ValueHead(model.cfg.dim), tok, prompts, reward, cfg).history
    ours = statistics.median(r["gen_tokens_per_s"] for r in history)
    share = statistics.mean(r["gen_share"] for r in history)
    per_update = statistics.mean(r["seconds"] for r in history)
    print(f"PPO on SmolLM2-135M (LoRA r=8), {args.rollout_batch} requests x {args.max_new_tokens} new tokens, "
          f"{args.threads} threads, {args.updates} updates")
    print("| measure | recai | transformers | ratio |")
    print("|---|---|---|---|")
    peer = None
    if not args.skip_peer:
        peer = peer_tokens_per_s(model, resolve("smollm2-135m-instruct"), prompts[:args.rollout_batch],
                                 args.max_new_tokens)
    ratio = f"{ours / peer:.2f}x" if peer else ""
    print(f"| rollout tokens/s (sampled, batch {args.rollout_batch}) | {ours:.0f} | "
          f"{peer:.0f} | {ratio} |" if peer else f"| rollout tokens/s | {ours:.0f} | | |")
    print(f"| share of PPO time in generation | {share:.0%} | | |")
    print(f"| seconds per PPO update | {per_update:.1f} | | |")
    return 0


def peer_tokens_per_s(model, gguf: Path, prompts: list[list[int]], max_new_tokens: int) -> float:
    """transformers' sampled generate on the same weights with our adapter merged, left-padded batch."""
    from transformers import AutoModelForCausalLM

    from recai.nn.checkpoint import invert, map_name
    from recai.nn.llama_weights import HF_TO_OURS
    from recai.nn.lora import merged_state_dict

    hf = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32).eval()
    ours_to_hf = invert(HF_TO_OURS)
    state = {map_name(k, ours_to_hf): v for k, v in merged_state_dict(model).items()
             if not (model.cfg.tie_embeddings and k == "output.weight")}
    missing = hf.load_state_dict(state, strict=False).missing_keys
    assert not [k for k in missing if k != "lm_head.weight"], missing  # the head is tied to the embeddings
    with torch.inference_mode():  # same weights: the same logits (up to float rounding)
        probe = torch.tensor([prompts[0]])
        gap = (hf(probe).logits[0, -1] - model(probe)[0, -1].float()).abs().max().item()
    if gap > 1e-3:
        raise SystemExit(f"transformers and recai disagree on the merged model's logits (max gap {gap:.2e})")
    width = max(len(p) for p in prompts)
    ids = torch.tensor([[0] * (width - len(p)) + p for p in prompts])
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
    with torch.inference_mode():
        hf.generate(ids[:, -8:], attention_mask=mask[:, -8:], max_new_tokens=4, do_sample=True)  # warm up
        t0 = time.perf_counter()
        out = hf.generate(ids, attention_mask=mask, max_new_tokens=max_new_tokens, min_new_tokens=max_new_tokens,
                          do_sample=True, temperature=1.0, top_k=0, pad_token_id=0)
        seconds = time.perf_counter() - t0
    return (out.shape[1] - width) * len(prompts) / seconds


if __name__ == "__main__":
    sys.exit(main())
