"""`recai eval knowledge`: does injected knowledge make an LLM a better ranker? An ablation.

Every held-out user (leave-one-out test target) gets one candidate list (the target plus sampled
negatives, drawn once and shared by all configurations), and each configuration builds its prompt
with a different set of knowledge kinds — none, attributes, item CF, user CF, KG paths, all. The
LLM's reply is parsed into a ranking of the candidates; reported per configuration: NDCG@1/5/10,
Hit@1/5/10, mean prompt tokens, mean knowledge tokens and the parse-failure rate.
"""
from __future__ import annotations

import random
import sys
import time
from dataclasses import asdict, dataclass

import torch

from recai.eval.metrics import hit, ndcg
from recai.knowledge.candidates import sample_candidates
from recai.knowledge.facts import KINDS
from recai.knowledge.parse import parse_ranking
from recai.knowledge.prompt import KnowledgePlugin, RankingPrompt

CONFIGS = {"none": (), "attributes": ("attributes",), "item_cf": ("item_cf",), "user_cf": ("user_cf",),
           "kg": ("kg",), "all": KINDS}
KS = (1, 5, 10)


@dataclass
class RankRequest:
    user: int
    history: list[int]
    target: int
    candidates: list[int]


@dataclass
class AblationRow:
    config: str
    users: int = 0
    ndcg1: float = 0.0
    ndcg5: float = 0.0
    ndcg10: float = 0.0
    hit1: float = 0.0
    hit5: float = 0.0
    hit10: float = 0.0
    prompt_tokens: float = 0.0
    knowledge_tokens: float = 0.0
    parse_failures: float = 0.0
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)

    def markdown(self) -> str:
        return (f"| {self.config} | {self.ndcg1:.4f} | {self.ndcg5:.4f} | {self.ndcg10:.4f} | {self.hit1:.3f} | "
                f"{self.hit5:.3f} | {self.hit10:.3f} | {self.prompt_tokens:.0f} | {self.knowledge_tokens:.0f} | "
                f"{self.parse_failures:.1%} | {self.seconds:.0f} |")


HEADER = ("| knowledge | NDCG@1 | NDCG@5 | NDCG@10 | Hit@1 | Hit@5 | Hit@10 | prompt tok | knowledge tok | "
          "parse fail | s |\n|---|---|---|---|---|---|---|---|---|---|---|")


def rank_requests(test, n_items: int, n_users: int, n_candidates: int = 20, sampling: str = "random",
                  popularity=None, seed: int = 0) -> list[RankRequest]:
    """n_users held-out users drawn with `seed`, each with its candidate list."""
    rng = random.Random(seed)
    rows = rng.sample(range(len(test)), min(n_users, len(test)))
    out = []
    for row in rows:
        history = [int(i) for i in test.history[row]]
        target = int(test.targets[row][0])
        cands = sample_candidates(target, history, n_items, n_candidates, sampling, popularity, rng)
        out.append(RankRequest(int(test.users[row]), history, target, cands))
    return out


def score_rankings(prompts: list[RankingPrompt], replies: list[str], requests: list[RankRequest]) -> dict:
    ranks, failures = [], 0
    for p, reply, req in zip(prompts, replies, requests):
        parsed = parse_ranking(reply, p.titles)
        failures += parsed.failed
        order = [p.candidates[i] for i in parsed.order]
        ranks.append(order.index(req.target) + 1 if req.target in order else len(order) + 1)
    r = torch.tensor(ranks)
    out = {f"ndcg{k}": float(ndcg(r, k).mean()) for k in KS}
    out.update({f"hit{k}": float(hit(r, k).mean()) for k in KS})
    out["parse_failures"] = failures / max(len(replies), 1)
    return out


def run_ablation(llm, plugin: KnowledgePlugin, requests: list[RankRequest], configs: list[str],
                 max_tokens: int = 160, batch_size: int = 8, progress: bool = True, on_row=None):
    """One AblationRow per configuration, and the prompts and replies of each (for inspection).

    llm: any backend with `complete_many` (local or OpenAI-compatible); on_row(row) after each row.
    """
    unknown = [c for c in configs if c not in CONFIGS]
    if unknown:
        raise ValueError(f"unknown configurations {unknown}; choose from {', '.join(CONFIGS)}")
    rows, transcripts = [], {}
    for config in configs:
        t0 = time.monotonic()
        prompts = [plugin.prompt(r.history, r.candidates, CONFIGS[config]) for r in requests]
        replies, prompt_tokens = [], []
        for start in range(0, len(prompts), batch_size):
            chunk = prompts[start:start + batch_size]
            done = llm.complete_many([p.messages for p in chunk], max_tokens=max_tokens, temperature=0.0,
                                     batch_size=batch_size)
            replies += [c.text for c in done]
            prompt_tokens += [c.prompt_tokens or plugin.counter("\n".join(m["content"] for m in p.messages))
                              for c, p in zip(done, chunk)]
            if progress:
                print(f"\r{config}: {len(replies)}/{len(prompts)}  {time.monotonic() - t0:.0f} s", end="",
                      file=sys.stderr, flush=True)
        if progress:
            print(file=sys.stderr)
        row = AblationRow(config, len(requests), **score_rankings(prompts, replies, requests))
        row.prompt_tokens = sum(prompt_tokens) / max(len(prompt_tokens), 1)
        row.knowledge_tokens = sum(p.selection.tokens for p in prompts) / max(len(prompts), 1)
        row.seconds = round(time.monotonic() - t0, 1)
        rows.append(row)
        transcripts[config] = list(zip(prompts, replies))
        if on_row is not None:
            on_row(row)
    return rows, transcripts
