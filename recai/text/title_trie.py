"""Catalog-constrained decoding: every item the model writes is a real catalog title.

The constrained output is a numbered list, one catalog title per line:

    1. Heat (1995)
    2. Casino (1995)<stop>

`TitleTrie` holds every title's tokens (`" " + title + "\\n"`, encoded on its own) in a prefix trie
under the model's tokenizer. `TitleConstraint.processor(...)` gives a generation logits processor
for one request: it forces the number literals ("1.", "2.", ...), lets the model choose only tokens
that continue some title still allowed, and after a title's newline lets it start the next number
or stop. Excluded titles (the user's history) and titles already written in this reply are
removed per request by counting, on each trie node, how many of the titles below it are blocked,
so nothing is copied. The result: whatever the model prefers, each line decodes to a catalog
title; every allowed title stays reachable.

Each title is allowed in exactly one tokenization (the tokenizer's own for that line), which is
also the one it produces when it reads the title, so a model trained on such lists follows it.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch


class TitleTrie:
    """Token-prefix trie of `" " + title + "\\n"` for every title; node 0 is the root."""

    def __init__(self, titles: list[str], tokenizer):
        self.titles = list(titles)
        self.children: list[dict[int, int]] = [{}]
        self.below: list[int] = [0]  # titles whose path passes through the node
        self.terminal: dict[int, int] = {}  # node -> title index ending there (the first, for twins)
        self.paths: list[list[int]] = []  # title index -> its node path (root excluded)
        # special=False: a title is text, even one that spells a control token.
        self.tokens = tokenizer.encode_batch([f" {t}\n" for t in self.titles], add_bos=False, add_eos=False,
                                             special=False)
        for i, ids in enumerate(self.tokens):
            if not ids:
                raise ValueError(f"title {i} ({self.titles[i]!r}) encodes to no tokens")
            node, path = 0, []
            self.below[0] += 1
            for t in ids:
                nxt = self.children[node].get(t)
                if nxt is None:
                    nxt = len(self.children)
                    self.children[node][t] = nxt
                    self.children.append({})
                    self.below.append(0)
                node = nxt
                self.below[node] += 1
                path.append(node)
            self.terminal.setdefault(node, i)  # two titles with the same text: one line names both
            self.paths.append(path)

    def tokens_of(self, index: int) -> list[int]:
        """The token ids the trie allows for title `index`."""
        return self.tokens[index]


def item_number(tokenizer, n: int) -> list[int]:
    """Token ids of the number literal "n." that opens line n of a constrained list."""
    return tokenizer.encode(f"{n}.", add_bos=False, add_eos=False)


class TitleWalk:
    """One title as a walk down the trie, for `recai.beam_search`: states are trie nodes, a state is
    finished at a title's end, and `exclude` (catalog indices) can never be reached."""

    def __init__(self, trie: TitleTrie, exclude=()):
        self.trie = trie
        self.blocked: dict[int, int] = {}  # node -> how many of the titles below it are blocked
        for i in set(int(i) for i in exclude):
            self.block(i)
        if self.live(0) == 0:
            raise ValueError("every catalog title is excluded: nothing can be recommended")

    def block(self, index: int) -> None:
        """Make title `index` unreachable, by counting it on every node of its path (nothing copied)."""
        if not 0 <= index < len(self.trie.paths):
            raise ValueError(f"excluded item {index} is not a catalog index (0..{len(self.trie.paths) - 1})")
        path = self.trie.paths[index]
        if self.blocked.get(path[-1], 0) >= self.trie.below[path[-1]]:
            return  # a duplicate title, already blocked through its twin
        self.blocked[0] = self.blocked.get(0, 0) + 1
        for node in path:
            self.blocked[node] = self.blocked.get(node, 0) + 1

    def live(self, node: int) -> int:
        """How many titles below `node` are still reachable."""
        return self.trie.below[node] - self.blocked.get(node, 0)

    def start(self) -> int:
        return 0

    def allowed(self, node: int) -> list[int]:
        return [t for t, n in self.trie.children[node].items() if self.live(n) > 0]

    def advance(self, node: int, token: int) -> int:
        return self.trie.children[node][token]

    def finished(self, node: int) -> bool:
        return node in self.trie.terminal

    def title(self, node: int) -> int:
        """The catalog index of the title a finished walk names."""
        return self.trie.terminal[node]


@dataclass
class TitleConstraint:
    """Per-request options over a shared trie: how many items (None: the model decides, up to
    max_items), which catalog indices may not appear, and whether a title may appear twice."""

    trie: TitleTrie
    count: int | None = None
    max_items: int = 20
    exclude: tuple[int, ...] = ()
    allow_repeats: bool = False

    def processor(self, tokenizer, prompt_len: int) -> "TitleProcessor":
        return TitleProcessor(self, tokenizer, prompt_len)

    def json_schema(self) -> None:
        return None  # remote models cannot be constrained to a catalog; ground their output instead


class TitleProcessor:
    """Logits processor for one request (batch of one) under a TitleConstraint."""

    def __init__(self, constraint: TitleConstraint, tokenizer, prompt_len: int):
        self.c, self.trie, self.prompt_len = constraint, constraint.trie, prompt_len
        self.stop_ids = sorted(getattr(tokenizer, "stop_ids", ()) or [tokenizer.eos_id])
        if self.c.count is not None and self.c.count < 1:
            raise ValueError(f"count must be >= 1, got {self.c.count}")
        self.walk = TitleWalk(self.trie, constraint.exclude)  # excluded and already-written titles
        self._numbers = {}  # n -> token ids of "n."
        self.tokenizer = tokenizer
        self.written: list[int] = []  # title indices, in order
        self.phase, self.node, self.number_pos = "number", 0, 0
        self.seen = 0

    def _number(self, n: int) -> list[int]:
        if n not in self._numbers:
            self._numbers[n] = item_number(self.tokenizer, n)
        return self._numbers[n]

    # ---- the state machine ---------------------------------------------------------------------
    def _feed(self, token: int) -> None:
        if self.phase == "number":
            expected = self._number(len(self.written) + 1)
            if token != expected[self.number_pos]:
                raise ValueError(f"token {token} does not continue the item number {expected}")
            self.number_pos += 1
            if self.number_pos == len(expected):
                self.phase, self.node = "title", 0
        elif self.phase == "title":
            nxt = self.trie.children[self.node].get(token)
            if nxt is None or self.walk.live(nxt) == 0:
                raise ValueError(f"token {token} does not continue an allowed title")
            self.node = nxt
            if nxt in self.trie.terminal:
                index = self.trie.terminal[nxt]
                self.written.append(index)
                if not self.c.allow_repeats:
                    self.walk.block(index)
                self.phase, self.number_pos = "between", 0
        elif self.phase == "between":
            if token in self.stop_ids:
                self.phase = "done"
            else:
                self.phase = "number"
                self._feed(token)
        else:
            raise ValueError("the list is finished; nothing may follow the stop token")

    def allowed(self) -> list[int]:
        """Token ids that may come next."""
        if self.phase == "number":
            return [self._number(len(self.written) + 1)[self.number_pos]]
        if self.phase == "title":
            return self.walk.allowed(self.node)
        if self.phase == "between":
            n = len(self.written)
            target = self.c.count if self.c.count is not None else self.c.max_items
            more = n < target and self.walk.live(0) > 0
            out = [self._number(n + 1)[0]] if more else []
            if self.c.count is None or n >= self.c.count or not more:
                out += self.stop_ids
            return out
        return list(self.stop_ids)

    def __call__(self, ids: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        if ids.shape[0] != 1:
            raise ValueError("the title constraint decodes one request at a time (batch of 1); use one "
                             "processor per row with `batched`")
        return self._mask_row(ids[0], logits)

    def _mask_row(self, row: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        for t in row[self.prompt_len + self.seen:].tolist():
            self._feed(int(t))
            self.seen += 1
        allowed = torch.tensor(self.allowed(), dtype=torch.long, device=logits.device)
        mask = torch.full_like(logits, float("-inf"))
        mask[..., allowed] = 0
        return logits + mask


def batched(processors: list[TitleProcessor]):
    """One logits processor for a left-padded batch: row b is handled by processors[b], each made
    with prompt_len = the padded prompt width. Finished rows keep receiving pad tokens from the
    decoding loop, which this ignores."""

    def process(ids: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        out = logits.clone()
        for b, proc in enumerate(processors):
            if proc.phase == "done":
                continue
            out[b] = proc._mask_row(ids[b], logits[b])
        return out

    return process
