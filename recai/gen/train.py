"""RecLM-gen training: SFT on the recommendation tasks, then PPO with the recommendation rewards.

Both tune LoRA adapters on a local model (default SmolLM2-135M-Instruct). PPO starts from the SFT
adapter: the actor is the SFT model with a fresh adapter on top of its merged weights, so the
frozen reference (adapters disabled) is the SFT policy itself, as in RLHF.
"""
from __future__ import annotations

from recai.gen.grounding import ground
from recai.gen.rewards import RewardConfig, item_rewards, list_reward, token_ends, token_rewards
from recai.gen.tasks import GenExample


def gen_reward_fn(examples: list[GenExample], tokenizer, matcher, teacher_ranks, categories,
                  cfg: RewardConfig | None = None):
    """A `recai.train.ppo` reward function over these examples (Sample.index = the example's position):
    item rewards on the tokens where items end, the count reward on the last token.

    teacher_ranks: fn(history) -> {catalog index: rank}.
    """
    cfg = cfg or RewardConfig()
    cache: dict[int, dict[int, int]] = {}

    def reward(samples) -> list[list[float]]:
        out = []
        for s in samples:
            ex = examples[s.index]
            if s.index not in cache:
                cache[s.index] = teacher_ranks(ex.history) if ex.history else {}
            g = ground(s.text, matcher, history=ex.history, count=ex.count)
            per_item = item_rewards(g, ex.target, cache[s.index], categories, ex.want, cfg)
            final = list_reward(g, ex.count, cfg)
            if not g.items:
                final += cfg.bad  # a reply that recommends nothing is as bad as an invalid item
            ends = token_ends(tokenizer, s.response)
            out.append(token_rewards(ends, g, per_item, final))
        return out

    return reward
