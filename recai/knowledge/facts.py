"""A piece of knowledge for a prompt, and how its cost in tokens is counted.

Every extractor returns `Fact`s: one sentence, the kind of knowledge it is, the candidate it is
about (None when it is about the user), and a score that says how much it matters for this user
and candidate set (higher first; scores are only compared within one kind).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

KINDS = ("attributes", "item_cf", "user_cf", "kg")
HEADINGS = {"attributes": "About the candidates", "item_cf": "Watched together by other users",
            "user_cf": "What a recommender trained on all users predicts for you",
            "kg": "Connections in a knowledge graph"}


@dataclass(frozen=True)
class Fact:
    kind: str  # one of KINDS
    text: str  # one sentence, as it appears in the prompt
    score: float  # relevance to this user and candidate set, comparable within the kind
    item: int | None = None  # the candidate (catalog index) it is about


class TokenCounter:
    """Tokens a text costs in the target model's prompt.

    With a tokenizer (anything with `encode(text, add_bos=False, add_eos=False)`), the exact
    count; without one (API models), ceil(characters / chars_per_token), 4 by default — about
    right for English under GPT-style BPE vocabularies, and configurable.
    """

    def __init__(self, tokenizer=None, chars_per_token: float = 4.0):
        if tokenizer is None and not chars_per_token > 0:
            raise ValueError(f"chars_per_token must be > 0, got {chars_per_token}")
        self.tokenizer, self.chars_per_token = tokenizer, chars_per_token

    def __call__(self, text: str) -> int:
        if not text:
            return 0
        if self.tokenizer is not None:
            return len(self.tokenizer.encode(text, add_bos=False, add_eos=False))
        return math.ceil(len(text) / self.chars_per_token)

    def describe(self) -> str:
        return "the model's tokenizer" if self.tokenizer is not None else f"{self.chars_per_token:g} chars/token"
