"""Short-term memory: the recent dialogue, trimmed to a token budget (oldest exchanges go first)."""
from __future__ import annotations

from typing import Callable


class DialogueMemory:
    """Past (user, assistant) exchanges as chat messages, newest kept.

    count_tokens: messages -> token count (a LocalLLM's `count_tokens`); None estimates four
    characters per token, which is close for English with the BPE vocabularies recai runs.
    """

    def __init__(self, budget_tokens: int = 1024, count_tokens: Callable[[list[dict]], int] | None = None):
        self.budget = budget_tokens
        self._count = count_tokens or (lambda msgs: sum(len(m["content"]) for m in msgs) // 4 + 4 * len(msgs))
        self._turns: list[tuple[str, str]] = []

    def add(self, user: str, assistant: str) -> None:
        self._turns.append((user, assistant))
        while len(self._turns) > 1 and self._count(self.messages()) > self.budget:
            self._turns.pop(0)
        if self._turns and self._count(self.messages()) > self.budget:  # one exchange alone is too long
            u, a = self._turns[0]
            keep = max(1, self.budget * 2)  # characters: about half the budget each side
            self._turns[0] = (u[:keep], a[:keep])

    def messages(self) -> list[dict]:
        out = []
        for user, assistant in self._turns:
            out += [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
        return out

    def __len__(self) -> int:
        return len(self._turns)
