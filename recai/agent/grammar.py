"""A decoding constraint that makes a local model write a valid plan, naming only real tools.

The plan grammar, with its spacing fixed:

    [{"tool": "<name>", "input": "<text>"}, {"tool": "<name>", "input": "<text>"}]<end of turn>

<name> is one of the tools; <text> is a JSON string without escapes (no quote, backslash or control
characters) of at most `max_input_chars`; at most `max_steps` steps. At every step the processor
masks the logits of tokens that cannot continue the grammar, so whatever the model prefers among
the rest, the output always parses. Work per step is a cached mask lookup: the literal parts of the
grammar have few distinct states, and inside <text> the allowed tokens are a fixed set.
"""
from __future__ import annotations

import json
import weakref
from dataclasses import dataclass

import torch

OPEN = '[{"tool": "'
AFTER_NAME = '", "input": "'
NEXT = '"}, {"tool": "'
LAST = '"}]'
_UNSAFE = set('"\\') | {chr(c) for c in range(32)} | {"\x7f"}


class _Vocab:
    """Per tokenizer: every token's text, which may appear inside <text>, and an index by first char."""

    def __init__(self, tokenizer, size: int):
        special = set(getattr(tokenizer, "special_tokens", {}).values())
        self.size = size
        self.text = [("" if i in special or i >= len(tokenizer) else tokenizer.decode([i])) for i in range(size)]
        self.safe = torch.tensor([bool(t) and not (set(t) & _UNSAFE) for t in self.text])
        self.length = torch.tensor([len(t) for t in self.text])
        self.by_first: dict[str, list[int]] = {}
        for i, t in enumerate(self.text):
            if t:
                self.by_first.setdefault(t[0], []).append(i)
        # Tokens that end <text> and start the closing literal: safe part, then '"' and a prefix of NEXT or LAST.
        self.masks: dict = {}  # (grammar, state) -> allowed-token mask, shared by every request
        self.closing: list[tuple[int, int, str]] = []  # (token, safe chars, rest starting with '"')
        for i, t in enumerate(self.text):
            q = t.find('"')
            if q < 0 or set(t[:q]) & _UNSAFE:
                continue
            rest = t[q:]
            if NEXT.startswith(rest) or LAST.startswith(rest):
                self.closing.append((i, q, rest))


_VOCABS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _vocab(tokenizer, size: int) -> _Vocab:
    v = _VOCABS.get(tokenizer)
    if v is None or v.size != size:
        v = _VOCABS[tokenizer] = _Vocab(tokenizer, size)
    return v


@dataclass(frozen=True)
class _State:
    phase: str  # "lit" (typing one of several literals) | "text" (inside an input string) | "done"
    typed: str = ""  # lit: what is typed of the current literal(s)
    name: bool = False  # lit: the literals are tool names (followed by AFTER_NAME)
    closing: bool = False  # lit: the literals are NEXT / LAST
    chars: int = 0  # text: characters written so far
    steps: int = 0  # steps opened so far


class PlanConstraint:
    """The plan grammar as a `recai.llm` constraint (local logits processor / remote JSON schema)."""

    def __init__(self, tools, max_steps: int = 4, max_input_chars: int = 160):
        self.tools = list(tools)
        if not self.tools or any(not t or set(t) & _UNSAFE for t in self.tools):
            raise ValueError(f"tool names must be non-empty and need no JSON escaping, got {self.tools}")
        self.max_steps, self.max_input_chars = max_steps, max_input_chars

    def json_schema(self) -> dict:
        step = {"type": "object", "properties": {"tool": {"enum": self.tools}, "input": {"type": "string"}},
                "required": ["tool", "input"], "additionalProperties": False}
        return {"type": "array", "items": step, "minItems": 1, "maxItems": self.max_steps}

    def processor(self, tokenizer, prompt_len: int) -> "PlanProcessor":
        return PlanProcessor(self, tokenizer, prompt_len)

    # ---- the grammar as literals ---------------------------------------------------------------
    def literals(self, s: _State) -> list[str]:
        if s.name:
            return [t + AFTER_NAME for t in self.tools]
        if s.closing:
            return [NEXT, LAST] if s.steps < self.max_steps else [LAST]
        return [OPEN]

    def after(self, s: _State, literal: str) -> _State:
        """The state once `literal` is complete."""
        if literal == LAST:
            return _State("done", steps=s.steps)
        if literal in (OPEN, NEXT):
            return _State("lit", name=True, steps=s.steps + 1)
        return _State("text", steps=s.steps)  # a tool name and AFTER_NAME

    def advance(self, s: _State, text: str) -> _State | None:
        """The state after writing `text`, or None if the grammar does not allow it."""
        for ch in text:
            if s.phase == "done":
                return None
            if s.phase == "text":
                if ch == '"':
                    s = _State("lit", typed='"', closing=True, steps=s.steps)
                elif ch in _UNSAFE or s.chars >= self.max_input_chars:
                    return None
                else:
                    s = _State("text", chars=s.chars + 1, steps=s.steps)
                continue
            typed = s.typed + ch
            options = [lit for lit in self.literals(s) if lit.startswith(typed)]
            if not options:
                return None
            done = [lit for lit in options if lit == typed]
            s = self.after(s, done[0]) if done else _State("lit", typed, s.name, s.closing, steps=s.steps)
        return s


class PlanProcessor:
    """Logits processor for one request (batch of one): masks tokens the plan grammar forbids."""

    def __init__(self, grammar: PlanConstraint, tokenizer, prompt_len: int):
        self.grammar, self.tokenizer, self.prompt_len = grammar, tokenizer, prompt_len
        self.state = _State("lit")
        self.seen = 0  # generated tokens already fed to the state
        self.stop_ids = sorted(getattr(tokenizer, "stop_ids", ()) or [tokenizer.eos_id])

    def __call__(self, ids: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        if ids.shape[0] != 1:
            raise ValueError("the plan constraint decodes one request at a time (batch of 1)")
        vocab = _vocab(self.tokenizer, logits.shape[-1])
        new = ids[0, self.prompt_len + self.seen:].tolist()
        for t in new:
            nxt = self.grammar.advance(self.state, vocab.text[t])
            # A token we allowed always advances; anything else means the caller bypassed the mask.
            if nxt is None:
                raise ValueError(f"token {t} ({vocab.text[t]!r}) does not continue the plan grammar")
            self.state = nxt
        self.seen += len(new)
        allowed = self._allowed(vocab)
        return logits.masked_fill(~allowed.to(logits.device), float("-inf"))

    def _allowed(self, vocab: _Vocab) -> torch.Tensor:
        s = self.state
        g = self.grammar
        key = (tuple(g.tools), g.max_steps, g.max_input_chars, s.phase, s.typed, s.name, s.closing,
               s.steps >= g.max_steps, s.chars if s.phase == "text" else 0)
        mask = vocab.masks.get(key)
        if mask is not None:
            return mask
        mask = torch.zeros(vocab.size, dtype=torch.bool)
        if s.phase == "done":
            mask[self.stop_ids] = True
        elif s.phase == "text":
            room = self.grammar.max_input_chars - s.chars
            mask |= vocab.safe & (vocab.length <= room)
            final = s.steps >= self.grammar.max_steps
            for i, safe_chars, rest in vocab.closing:
                if safe_chars <= room and (LAST.startswith(rest) or (not final and NEXT.startswith(rest))):
                    mask[i] = True
        else:
            remaining = [lit[len(s.typed):] for lit in self.grammar.literals(s) if lit.startswith(s.typed)]
            for first in {r[0] for r in remaining if r}:
                for i in vocab.by_first.get(first, ()):
                    t = vocab.text[i]
                    if any(r.startswith(t) for r in remaining):
                        mask[i] = True
        vocab.masks[key] = mask
        return mask


def plan_text_is_valid(text: str, tools) -> bool:
    """Whether text parses as a plan of known tools (what the constraint guarantees)."""
    try:
        steps = json.loads(text)
    except ValueError:
        return False
    return isinstance(steps, list) and bool(steps) and all(
        isinstance(s, dict) and s.get("tool") in tools and isinstance(s.get("input"), str) for s in steps)
