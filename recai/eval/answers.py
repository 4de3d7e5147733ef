"""Asking a model every question of a task file, resumably, with a token and cost ledger.

Answers go to an append-only JSONL log, one line per question, flushed and synced as each batch
finishes. Starting again with the same log skips every question already answered, so an
interrupted run completes without re-querying (and paying for) finished items; a line torn by a
crash mid-write, or a malformed one, is dropped when the log is opened (named on stderr) and its
question asked again; the good lines around it are kept. A backend error on a question is recorded as
an empty answer with the error text (it scores as a failure), not raised.
"""
from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from recai.errors import LLMError

SYSTEM = "You are a helpful movie recommender."


@dataclass
class Prices:
    """USD per million tokens (0 for local models)."""

    prompt: float = 0.0
    completion: float = 0.0


@dataclass
class Ledger:
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    errors: int = 0
    prices: Prices = field(default_factory=Prices)

    def add(self, prompt_tokens: int, completion_tokens: int) -> None:
        self.calls += 1
        self.prompt_tokens += prompt_tokens
        self.completion_tokens += completion_tokens

    @property
    def cost_usd(self) -> float:
        return (self.prompt_tokens * self.prices.prompt + self.completion_tokens * self.prices.completion) / 1e6

    def to_dict(self) -> dict:
        return {**asdict(self), "cost_usd": round(self.cost_usd, 6)}


class MeteredLLM:
    """An LLM whose completions are all added to a ledger: the judges' and conversations' calls,
    which do not go through `ask_all`. Errors are counted and raised unchanged."""

    def __init__(self, llm, ledger: Ledger):
        self._llm, self.ledger = llm, ledger
        self.name = getattr(llm, "name", "llm")

    def complete(self, messages, **kwargs):
        c = self._counting_errors(self._llm.complete, messages, **kwargs)
        self.ledger.add(c.prompt_tokens, c.completion_tokens)
        return c

    def chat(self, messages, **kwargs) -> str:
        return self.complete(messages, **kwargs).text

    def complete_many(self, conversations, **kwargs):
        out = self._counting_errors(self._llm.complete_many, conversations, **kwargs)
        for c in out:
            self.ledger.add(c.prompt_tokens, c.completion_tokens)
        return out

    def _counting_errors(self, call, *args, **kwargs):
        try:
            return call(*args, **kwargs)
        except LLMError:
            self.ledger.errors += 1
            raise


class AnswerLog:
    """The answers so far (`done`: id -> record), and where new ones are appended."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.done: dict[str, dict] = {}
        if self.path.is_file():
            self._load()

    def _load(self) -> None:
        kept, bad = [], []
        for n, line in enumerate(self.path.read_bytes().splitlines(keepends=True), 1):
            record = None
            if line.endswith(b"\n"):  # no newline: torn by a crash mid-write
                try:
                    record = json.loads(line)
                except ValueError:
                    pass
            if isinstance(record, dict) and "id" in record:
                self.done[str(record["id"])] = record
                kept.append(line)
            else:
                bad.append(n)
        if bad:
            # Only the unreadable lines go (their questions are asked again); every good answer after
            # them stays. The log is rewritten whole through a rename so a crash here loses nothing.
            from recai.data.atomic import atomic_path

            shown = ", ".join(map(str, bad[:10])) + (f" ... ({len(bad)} in all)" if len(bad) > 10 else "")
            print(f"recai: {self.path}: line {shown} torn or malformed; dropped, those questions will be asked again",
                  file=sys.stderr)
            with atomic_path(self.path) as tmp:
                tmp.write_bytes(b"".join(kept))

    def add(self, records: list[dict]) -> None:
        with open(self.path, "a", encoding="utf-8") as f:
            for r in records:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
                self.done[str(r["id"])] = r
            f.flush()
            os.fsync(f.fileno())


def ask_all(llm, items, log: AnswerLog, ledger: Ledger, max_tokens: int = 160, batch_size: int = 8,
            progress: bool = True) -> dict[str, str]:
    """Every item's answer (id -> text), asking the model only for those the log lacks."""
    pending = [it for it in items if it.id not in log.done and it.prompt]
    t0 = time.monotonic()
    for start in range(0, len(pending), batch_size):
        chunk = pending[start:start + batch_size]
        conversations = [[{"role": "system", "content": SYSTEM}, {"role": "user", "content": it.prompt}]
                         for it in chunk]
        try:
            done = llm.complete_many(conversations, max_tokens=max_tokens, temperature=0.0, batch_size=batch_size)
        except (LLMError, ValueError):
            done = None  # one bad question should not fail its batch: ask them one by one
        records = []
        for n, it in enumerate(chunk):
            try:
                c = done[n] if done is not None else llm.complete_many([conversations[n]], max_tokens=max_tokens,
                                                                       temperature=0.0)[0]
            except (LLMError, ValueError) as e:
                ledger.errors += 1
                records.append({"id": it.id, "task": it.task, "answer": "", "error": str(e)[:500]})
                continue
            ledger.add(c.prompt_tokens, c.completion_tokens)
            records.append({"id": it.id, "task": it.task, "answer": c.text or "", "prompt_tokens": c.prompt_tokens,
                            "completion_tokens": c.completion_tokens})
        log.add(records)
        if progress:
            print(f"\ranswered {start + len(chunk)}/{len(pending)}  {time.monotonic() - t0:.0f} s", end="",
                  file=sys.stderr, flush=True)
    if progress and pending:
        print(file=sys.stderr)
    return {it.id: log.done[it.id]["answer"] for it in items if it.id in log.done}
