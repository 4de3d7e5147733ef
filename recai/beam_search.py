"""Constrained beam search for `recai.nn.llama` models: the most likely complete answers under a
constraint, not the greedy path.

Greedy decoding under a catalog constraint picks the best next token, and many titles share a first
token ("The ..."), so the greedy answer is often a title the model rates low as a whole. Beam search
keeps the `width` best partial answers by summed log-probability and returns the best finished ones.

The constraint is a state machine (`Constraint`): which tokens may follow a state, the state after
a token, and whether a state is a finished answer. `recai.text.title_trie.TitleWalk` is one; any
object with the three methods works. Scores are plain sums of log-probabilities (no length
normalisation): every answer ends exactly where the constraint says, so lengths are not a choice
the model makes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, Sequence

import torch


class Constraint(Protocol):
    def start(self) -> Any: ...
    def allowed(self, state) -> Sequence[int]: ...
    def advance(self, state, token: int) -> Any: ...
    def finished(self, state) -> bool: ...


@dataclass
class Beam:
    score: float  # summed log-probability of `tokens`
    tokens: list[int]
    state: Any


@torch.inference_mode()
def beam_search(model, prompt: list[int], constraint: Constraint, width: int = 8, max_new_tokens: int = 48,
                n_best: int | None = None) -> list[Beam]:
    """The `n_best` (default `width`) highest-scoring finished continuations of `prompt`, best first.

    One prefill of the prompt, then one batched forward per step over the live beams, whose KV
    cache rows are reordered to follow their parents. Stops when no live beam can beat the
    `n_best`-th finished one (log-probabilities only lower a score), or after `max_new_tokens`.
    """
    if width < 1:
        raise ValueError(f"beam width must be >= 1, got {width}")
    if not prompt:
        raise ValueError("the prompt needs at least one token")
    n_best = width if n_best is None else n_best
    P = len(prompt)
    if P + max_new_tokens > model.cfg.max_seq_len:
        raise ValueError(f"prompt ({P} tokens) + max_new_tokens ({max_new_tokens}) exceeds the model's "
                         f"max_seq_len {model.cfg.max_seq_len}")
    device = model.tok_embeddings.weight.device
    caches = model.new_caches(1, P + max_new_tokens)
    logits = model(torch.tensor([prompt], device=device), caches=caches, pos=0, last_only=True)[:, -1]
    live, done, pos = [Beam(0.0, [], constraint.start())], [], P
    for _ in range(max_new_tokens):
        logp = torch.log_softmax(logits.float(), dim=-1)
        # Each beam's best `width` allowed tokens; the next beams are the best `width` of those.
        proposals = []
        for b, beam in enumerate(live):
            allowed = list(constraint.allowed(beam.state))
            if not allowed:
                continue
            idx = torch.tensor(allowed, device=logp.device)
            scores = logp[b, idx]
            top = torch.topk(scores, min(width, len(allowed)))
            proposals += [(beam.score + s, b, allowed[i]) for s, i in zip(top.values.tolist(), top.indices.tolist())]
        proposals.sort(key=lambda p: -p[0])
        parents, nxt = [], []
        for score, b, token in proposals[:width]:
            state = constraint.advance(live[b].state, token)
            beam = Beam(score, live[b].tokens + [token], state)
            if constraint.finished(state):
                done.append(beam)
            else:
                parents.append(b)
                nxt.append(beam)
        done.sort(key=lambda d: -d.score)
        done = done[:n_best]
        if len(done) >= n_best:
            keep = sum(beam.score > done[-1].score for beam in nxt)  # a prefix: nxt is best first
            nxt, parents = nxt[:keep], parents[:keep]
        if not nxt:
            break
        rows = torch.tensor(parents, device=device)
        for c in caches:
            c.k, c.v = c.k.index_select(0, rows), c.v.index_select(0, rows)
        live = nxt
        step = torch.tensor([[beam.tokens[-1]] for beam in live], device=device)
        logits = model(step, caches=caches, pos=pos, last_only=True)[:, -1]
        pos += 1
    return done
