"""PPO for language models: a LoRA actor, a value-head critic, the frozen reference for free.

One update:
1. Rollout: sample a response per prompt with the actor through `recai.generation` (KV cache,
   batched, optional logits processors such as a catalog constraint).
2. Score: one forward over prompt + response gives the actor's log-probabilities and the critic's
   values; the reference is the same model with its adapters disabled (`adapters_disabled`), so
   no second copy of the weights is kept; the reward function scores each response per token.
3. Rewards per token r_t = score_t - kl_coef * (log π(a_t) - log π_ref(a_t)); advantages by GAE.
   With `kl_target` set, kl_coef adapts after every update (proportional control, as in Ziegler
   et al. 2019): up when the rollout's KL per reply exceeds the target, down when it falls short.
4. `ppo_epochs` passes over shuffled minibatches: clipped surrogate loss, clipped value loss,
   entropy bonus, gradient clipping, AdamW over the LoRA factors and the value head.

The critic is a linear value head on the actor's final hidden states; by default it reads them
detached (`critic_shares_trunk=False`), so the value loss trains only the head and cannot pull the
policy's adapter around. The model runs in eval mode throughout (no dropout), so the first
minibatch of every update has ratio exactly 1.

The policy is the model's softmax at `temperature`: rollouts sample from it and every
log-probability (actor, reference, entropy) is taken from logits / temperature, so the ratios and
the KL describe the distribution that was sampled. A temperature below 1 trains a policy closer to
the greedy one that is usually evaluated.

    head = ValueHead(model.cfg.dim)
    result = train_ppo(model, head, tokenizer, prompts, reward_fn, PPOConfig(updates=20))

reward_fn(samples: list[Sample]) -> list[list[float]]: one reward per response token (the last
token is where a sequence-level reward goes).
"""
from __future__ import annotations

import random
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from recai.nn.lora import adapters_disabled, trainable_parameters


@dataclass
class PPOConfig:
    updates: int = 10  # rollout + optimisation rounds
    rollout_batch: int = 8  # prompts per rollout
    minibatch: int = 4  # sequences per gradient step
    ppo_epochs: int = 2  # passes over each rollout
    lr: float = 1e-4  # LoRA factors
    value_lr: float = 1e-3  # value head
    max_new_tokens: int = 64
    temperature: float = 1.0
    top_k: int = 0
    kl_coef: float = 0.05  # per-token KL penalty against the reference (the start value when adaptive)
    kl_target: float | None = None  # nats per reply; set: kl_coef adapts towards it after each update
    kl_horizon: float = 0.2  # the largest relative change of an adaptive kl_coef per update
    gamma: float = 1.0
    lam: float = 0.95
    clip: float = 0.2  # policy ratio clip
    value_clip: float = 0.2  # value clip around the rollout's values
    vf_coef: float = 0.5
    entropy_coef: float = 0.0
    max_grad_norm: float = 1.0
    whiten_advantages: bool = True
    critic_shares_trunk: bool = False  # True: the value loss also trains the actor's LoRA
    seed: int = 0

    def __post_init__(self):
        for name in ("updates", "rollout_batch", "minibatch", "ppo_epochs", "max_new_tokens"):
            if getattr(self, name) < 1:
                raise ValueError(f"PPOConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.minibatch > self.rollout_batch:
            raise ValueError(f"minibatch ({self.minibatch}) cannot exceed rollout_batch ({self.rollout_batch})")
        if self.temperature <= 0:
            raise ValueError("PPO samples its rollouts: temperature must be > 0")
        if self.kl_target is not None and self.kl_target <= 0:
            raise ValueError(f"kl_target must be > 0 nats (or None for a fixed kl_coef), got {self.kl_target}")
        if not 0 <= self.lam <= 1 or not 0 <= self.gamma <= 1:
            raise ValueError(f"gamma and lam must be in [0, 1], got {self.gamma}, {self.lam}")

    def to_dict(self) -> dict:
        return asdict(self)


class ValueHead(nn.Module):
    """V(s_t) from the final hidden state: one linear layer, zero-initialised (values start at 0)."""

    def __init__(self, dim: int):
        super().__init__()
        self.linear = nn.Linear(dim, 1)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.linear(hidden.float()).squeeze(-1)


@dataclass
class Sample:
    prompt: list[int]
    response: list[int]  # generated tokens, the stop token included when one ended it
    text: str  # the response decoded (stop token left out)
    index: int  # which prompt (position in the prompts given to train_ppo)


RewardFn = Callable[[list[Sample]], list[list[float]]]


# ---- the PPO formulas (pure functions, tested against hand computations) ------------------------
def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (x * mask).sum() / mask.sum().clamp(min=1)


def whiten(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(x - mean) / std over the masked entries; masked-out entries become 0."""
    mean = masked_mean(x, mask)
    var = masked_mean((x - mean) ** 2, mask)
    return (x - mean) * torch.rsqrt(var + 1e-8) * mask


def gae(rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float, lam: float
        ) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation over response tokens; (B, T) each, mask 1 on real tokens.

    δ_t = r_t + γ V_{t+1} - V_t (V beyond the last real token is 0), A_t = δ_t + γλ A_{t+1}.
    Returns (advantages, returns = advantages + values), 0 where mask is 0.
    """
    B, T = rewards.shape
    adv = torch.zeros_like(rewards)
    next_adv = torch.zeros(B, dtype=rewards.dtype, device=rewards.device)
    next_value = torch.zeros(B, dtype=rewards.dtype, device=rewards.device)
    for t in reversed(range(T)):
        m = mask[:, t]
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        a = (delta + gamma * lam * next_adv) * m
        adv[:, t] = a
        # Padding after a sequence's end carries nothing back into it.
        next_adv = torch.where(m > 0, a, torch.zeros_like(a))
        next_value = torch.where(m > 0, values[:, t], torch.zeros_like(a))
    return adv, (adv + values) * mask


def policy_loss(logp: torch.Tensor, old_logp: torch.Tensor, advantages: torch.Tensor, mask: torch.Tensor,
                clip: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Clipped surrogate: mean over tokens of -min(ρA, clip(ρ, 1-ε, 1+ε)A), ρ = π/π_old; and the
    fraction of tokens where the clip was active."""
    ratio = torch.exp(logp - old_logp)
    unclipped = ratio * advantages
    clipped = torch.clamp(ratio, 1 - clip, 1 + clip) * advantages
    loss = masked_mean(-torch.minimum(unclipped, clipped), mask)
    clipfrac = masked_mean((clipped != unclipped).float(), mask)
    return loss, clipfrac


def value_loss(values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor,
               clip: float) -> torch.Tensor:
    """Clipped value loss: mean over tokens of ½ max((V - R)², (V_old + clip(V - V_old, ±ε) - R)²)."""
    clipped = old_values + torch.clamp(values - old_values, -clip, clip)
    return masked_mean(0.5 * torch.maximum((values - returns) ** 2, (clipped - returns) ** 2), mask)


def adapt_kl_coef(coef: float, kl: float, target: float, step: float) -> float:
    """The next KL coefficient: scaled by 1 + e, e = (kl / target - 1) clipped to ±step."""
    error = min(max(kl / target - 1.0, -step), step)
    return coef * (1.0 + error)


def entropy(logits: torch.Tensor) -> torch.Tensor:
    """Per-position entropy of the softmax over the last dimension."""
    logp = F.log_softmax(logits.float(), -1)
    return -(logp.exp() * logp).sum(-1)


# ---- rollouts and scoring --------------------------------------------------------------------
@dataclass
class Batch:
    """A rollout as tensors: the joined sequences and, per response token, everything PPO needs."""

    ids: torch.Tensor  # (B, P + T): left-padded prompt, right-padded response
    attention: torch.Tensor  # (B, P + T) 1 on real tokens
    prompt_len: int  # P
    mask: torch.Tensor  # (B, T) 1 on real response tokens
    old_logp: torch.Tensor | None = None  # (B, T)
    old_values: torch.Tensor | None = None
    advantages: torch.Tensor | None = None
    returns: torch.Tensor | None = None

    def rows(self, index: torch.Tensor) -> "Batch":
        pick = lambda t: None if t is None else t[index]  # noqa: E731
        return Batch(self.ids[index], self.attention[index], self.prompt_len, self.mask[index],
                     pick(self.old_logp), pick(self.old_values), pick(self.advantages), pick(self.returns))


def rollout(model, tokenizer, prompts: list[list[int]], indices: list[int], cfg: PPOConfig, generator_seed: int,
            logits_processors: Sequence[Callable] = ()) -> list[Sample]:
    """One sampled response per prompt (the stop token kept as the response's last token: its
    probability is part of the policy, and the sequence-level reward lands on it)."""
    from recai.generation import GenerationConfig, generate

    gen_cfg = GenerationConfig(max_new_tokens=cfg.max_new_tokens, temperature=cfg.temperature, top_k=cfg.top_k,
                               seed=generator_seed, logits_processors=tuple(logits_processors))
    out = []
    for p, g, i in zip(prompts, generate(model, prompts, tokenizer, gen_cfg), indices):
        stop = [g.stop_id] if g.stop_id is not None else []
        out.append(Sample(p, g.tokens + stop, g.text, i))
    return out


def to_batch(samples: list[Sample], device, pad_id: int = 0) -> Batch:
    """Left-padded prompts joined to right-padded responses. The pad id is arbitrary: padding is
    masked out of attention and of every loss."""
    P = max(len(s.prompt) for s in samples)
    T = max(max(len(s.response) for s in samples), 1)
    B = len(samples)
    ids = torch.full((B, P + T), pad_id, dtype=torch.long)
    attention = torch.zeros((B, P + T), dtype=torch.long)
    mask = torch.zeros((B, T))
    for b, s in enumerate(samples):
        ids[b, P - len(s.prompt):P] = torch.tensor(s.prompt)
        attention[b, P - len(s.prompt):P] = 1
        if s.response:
            ids[b, P:P + len(s.response)] = torch.tensor(s.response)
            attention[b, P:P + len(s.response)] = 1
            mask[b, :len(s.response)] = 1
    return Batch(ids.to(device), attention.to(device), P, mask.to(device))


def score_tokens(model, head: ValueHead, batch: Batch, shares_trunk: bool, temperature: float = 1.0
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(log-probs of the response tokens, values, entropies), each (B, T), from one forward pass,
    under the policy softmax(logits / temperature).

    Position P - 1 + t predicts response token t and holds the state V(s_t) is read from.
    """
    P = batch.prompt_len
    T = batch.mask.shape[1]
    hidden = model.hidden(batch.ids, attention_mask=batch.attention)[:, P - 1:P - 1 + T]  # (B, T, C)
    logits = model.output(hidden).float()  # (B, T, V)
    if temperature != 1.0:
        logits = logits / temperature
    targets = batch.ids[:, P:P + T]
    logp = torch.gather(F.log_softmax(logits, -1), 2, targets[..., None]).squeeze(-1)
    values = head(hidden if shares_trunk else hidden.detach())
    return logp, values, entropy(logits)


@dataclass
class PPOResult:
    history: list[dict] = field(default_factory=list)  # one row of statistics per update


def train_ppo(model, head: ValueHead, tokenizer, prompts: list[list[int]], reward_fn: RewardFn, cfg: PPOConfig,
              *, logits_processors: Callable[[list[int]], Sequence[Callable]] | None = None,
              progress: bool = True, log=None) -> PPOResult:
    """PPO on `prompts` (token ids); see the module docstring. The model must carry LoRA adapters.

    logits_processors: fn(prompt indices of the rollout) -> processors for its generation (e.g. a
    catalog constraint per request); None for free generation. log: fn(row) called per update.
    """
    if not prompts:
        raise ValueError("train_ppo needs at least one prompt")
    params = trainable_parameters(model)
    if not params:
        raise ValueError("the actor has no trainable parameters: apply_lora first (the reference is the "
                         "model with its adapters disabled)")
    device = model.tok_embeddings.weight.device
    head.to(device)
    model.eval()
    opt = torch.optim.AdamW([{"params": params, "lr": cfg.lr},
                             {"params": list(head.parameters()), "lr": cfg.value_lr}], weight_decay=0.0)
    rng = random.Random(cfg.seed)
    kl_coef = cfg.kl_coef
    result = PPOResult()
    for update in range(cfg.updates):
        t0 = time.monotonic()
        chosen = [rng.randrange(len(prompts)) for _ in range(cfg.rollout_batch)]
        procs = logits_processors(chosen) if logits_processors is not None else ()
        with torch.no_grad():
            samples = rollout(model, tokenizer, [prompts[i] for i in chosen], chosen, cfg,
                              generator_seed=cfg.seed * 100003 + update, logits_processors=procs)
        t_gen = time.monotonic() - t0
        scores = reward_fn(samples)
        batch = to_batch(samples, device)
        with torch.no_grad():
            batch.old_logp, batch.old_values, _ = score_tokens(model, head, batch, cfg.critic_shares_trunk, cfg.temperature)
            with adapters_disabled(model):
                ref_logp, _, _ = score_tokens(model, head, batch, cfg.critic_shares_trunk, cfg.temperature)
            score = torch.zeros_like(batch.mask)
            for b, (s, r) in enumerate(zip(samples, scores)):
                if len(r) != len(s.response):
                    raise ValueError(f"reward_fn gave {len(r)} rewards for a response of {len(s.response)} tokens")
                if r:
                    score[b, :len(r)] = torch.tensor(r, dtype=score.dtype)
            kl = (batch.old_logp - ref_logp) * batch.mask
            rewards = score - kl_coef * kl
            batch.advantages, batch.returns = gae(rewards, batch.old_values, batch.mask, cfg.gamma, cfg.lam)
            if cfg.whiten_advantages and batch.mask.sum() > 1:
                batch.advantages = whiten(batch.advantages, batch.mask)
        stats = {"pg_loss": [], "vf_loss": [], "clipfrac": [], "entropy": [], "ratio": []}
        for _ in range(cfg.ppo_epochs):
            order = torch.randperm(len(samples), generator=torch.Generator().manual_seed(rng.randrange(1 << 30)))
            for start in range(0, len(samples), cfg.minibatch):
                mb = batch.rows(order[start:start + cfg.minibatch].to(device))
                logp, values, ent = score_tokens(model, head, mb, cfg.critic_shares_trunk, cfg.temperature)
                pg, clipfrac = policy_loss(logp, mb.old_logp, mb.advantages, mb.mask, cfg.clip)
                vf = value_loss(values, mb.old_values, mb.returns, mb.mask, cfg.value_clip)
                ent_mean = masked_mean(ent, mb.mask)
                loss = pg + cfg.vf_coef * vf - cfg.entropy_coef * ent_mean
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params + list(head.parameters()), cfg.max_grad_norm)
                opt.step()
                with torch.no_grad():
                    stats["pg_loss"].append(pg.item())
                    stats["vf_loss"].append(vf.item())
                    stats["clipfrac"].append(clipfrac.item())
                    stats["entropy"].append(ent_mean.item())
                    stats["ratio"].append(masked_mean(torch.exp(logp - mb.old_logp), mb.mask).item())
        elapsed = time.monotonic() - t0
        n_tokens = int(batch.mask.sum())
        row = {"update": update + 1, "reward": float(score.sum(1).mean()), "kl": float(kl.sum(1).mean()),
               "response_tokens": n_tokens / len(samples), "gen_tokens_per_s": n_tokens / max(t_gen, 1e-9),
               "gen_share": t_gen / max(elapsed, 1e-9), "seconds": elapsed, "kl_coef": kl_coef,
               **{k: sum(v) / len(v) for k, v in stats.items()}}
        if cfg.kl_target is not None:
            kl_coef = adapt_kl_coef(kl_coef, row["kl"], cfg.kl_target, cfg.kl_horizon)
        result.history.append(row)
        if log is not None:
            log(row)
        if progress:
            print(f"ppo {update + 1}/{cfg.updates}  reward {row['reward']:.3f}  kl {row['kl']:.4f} "
                  f"(coef {row['kl_coef']:.3g})  "
                  f"clipfrac {row['clipfrac']:.3f}  vf_loss {row['vf_loss']:.4f}  gen {row['gen_tokens_per_s']:.0f} tok/s "
                  f"({row['gen_share']:.0%} of {elapsed:.1f} s)", file=sys.stderr, flush=True)
    return result

