"""Short-term memory: the recent dialogue under a token budget; older exchanges folded into a summary.

When the exchanges outgrow the budget the oldest ones leave the window, but not the memory: a
summariser folds them into `summary`, which stays within a quarter of the budget. The default
summariser is extractive (what the user asked, newest kept, no model call); `llm_summarizer`
asks a language model for one sentence instead. Long-term preferences live in the UserProfile.
"""
from __future__ import annotations

from typing import Callable

Exchange = tuple[str, str]  # (user, assistant)
Summarizer = Callable[[str, list[Exchange], int], str]  # (summary so far, dropped exchanges, char budget) -> summary


def extractive_summary(summary: str, dropped: list[Exchange], max_chars: int) -> str:
    """The user's earlier requests, oldest first, keeping the newest within max_chars (the replies
    are left out: they are item lists, and the profile already records what was liked)."""
    parts = [p for p in summary.split(" | ") if p] + [" ".join(u.split()) for u, _ in dropped if u.strip()]
    kept, size = [], 0
    for part in reversed(parts):
        if size + len(part) + 3 > max_chars:
            if not kept:  # even the newest request alone is too long: keep its start
                kept.append(part[:max_chars])
            break
        kept.append(part)
        size += len(part) + 3
    return " | ".join(reversed(kept))


def llm_summarizer(llm, max_tokens: int = 60) -> Summarizer:
    """A summariser that asks `llm` for one sentence on what the user wants, falling back to the
    extractive summary when the model fails or writes nothing."""
    from recai.errors import LLMError

    def summarize(summary: str, dropped: list[Exchange], max_chars: int) -> str:
        said = "\n".join(f"User: {u}\nAssistant: {a[:200]}" for u, a in dropped)
        before = f"Summary so far: {summary}\n" if summary else ""
        prompt = (f"{before}{said}\nIn one sentence, what does the user want and not want? Mention movie titles "
                  "and genres they named.")
        try:
            text = llm.chat([{"role": "user", "content": prompt}], max_tokens=max_tokens, temperature=0.0)
        except LLMError:
            text = ""
        text = " ".join(text.split())[:max_chars]
        return text or extractive_summary(summary, dropped, max_chars)

    return summarize


class DialogueMemory:
    """Past (user, assistant) exchanges as chat messages, newest kept, plus a summary of older ones.

    count_tokens: messages -> token count (a LocalLLM's `count_tokens`); None estimates four
    characters per token, which is close for English with the BPE vocabularies recai runs.
    summarize: how dropped exchanges are folded into `summary` (None: they are forgotten).
    """

    def __init__(self, budget_tokens: int = 1024, count_tokens: Callable[[list[dict]], int] | None = None,
                 summarize: Summarizer | None = extractive_summary):
        self.budget = budget_tokens
        self._count = count_tokens or (lambda msgs: sum(len(m["content"]) for m in msgs) // 4 + 4 * len(msgs))
        self._summarize = summarize
        self._turns: list[Exchange] = []
        self.summary = ""

    def add(self, user: str, assistant: str) -> None:
        self._turns.append((user, assistant))
        dropped = []
        while len(self._turns) > 1 and self._count(self.messages()) > self.budget:
            dropped.append(self._turns.pop(0))
        if self._turns and self._count(self.messages()) > self.budget:  # one exchange alone is too long
            u, a = self._turns[0]
            keep = max(1, self.budget * 2)  # characters: about half the budget each side
            self._turns[0] = (u[:keep], a[:keep])
        if dropped and self._summarize is not None:
            # A quarter of the budget, in characters at four per token.
            self.summary = self._summarize(self.summary, dropped, self.budget)

    def messages(self) -> list[dict]:
        """The window as chat messages, the summary (if any) first as a system note."""
        out = [{"role": "system", "content": f"Earlier in this conversation: {self.summary}"}] if self.summary else []
        for user, assistant in self._turns:
            out += [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
        return out

    def __len__(self) -> int:
        return len(self._turns)
