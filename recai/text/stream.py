"""Incremental detokenisation: text ready to print after each generated token.

Decoding token by token is wrong in two ways: one character can span several tokens (byte-fallback
pieces like <0xE2>, byte-level BPE splitting an emoji), and sentencepiece-style decoders drop the
space in front of the first word of a text, so a token's text depends on what precedes it. So we
decode a short window (the tokens of the previous emission as context, plus the new ones) and emit
what the new tokens added; while that ends in U+FFFD a character is incomplete and we wait.

A window that starts mid-text would have its first space dropped too, so past the start we put a
fixed sentinel token in front of it: the sentinel takes the stripping and its text is cut off again.
At the start of a text the window grows from the first token instead, until a probe token (one that
decodes with a leading space) decodes the same after the sentinel-led window as after the whole
text, i.e. until the decoder's start-of-text rule can no longer reach new tokens (leading <s> or
whitespace-only pieces keep it pending in sentencepiece).

Result: the concatenation of every `push` and the final `flush` equals `decode(all ids)`, at a
bounded cost per token.
"""
from __future__ import annotations

from typing import Callable, Sequence

REPLACEMENT = "\ufffd"


class StreamDecoder:
    """Turns a stream of token ids into printable text, one `push` per token.

    decode: ids -> text, the tokenizer's decode with its options fixed. sentinel: a token id whose
    text has no leading space and does not change with what follows; probe: a token id that
    decodes with a leading space after other text. Either None: windows are decoded as they are,
    right for decoders with no start-of-text rule (byte-level BPE). max_hold: tokens to wait for a
    character to complete before emitting the U+FFFD anyway (the text really has one). max_start:
    tokens after which the start-of-text window is given up even if the probe still disagrees.
    """

    def __init__(
        self,
        decode: Callable[[Sequence[int]], str],
        sentinel: int | None = None,
        probe: int | None = None,
        max_hold: int = 8,
        max_start: int = 64,
    ):
        self._decode = decode
        self._sentinel = sentinel if probe is not None else None
        self._probe = probe
        self._sentinel_text = decode([sentinel]) if self._sentinel is not None else ""
        self._max_hold = max_hold
        self._max_start = max_start
        self._ids: list[int] = []  # window: context tokens (already emitted), then pending ones
        self._read = 0  # index in _ids of the first pending token
        self._at_start = True  # the window begins at the first token of the text

    def push(self, token_id: int) -> str:
        """Add one token; return the text that is now final (often "", never a broken character)."""
        self._ids.append(int(token_id))
        text = self._text(self._ids, self._at_start)
        if text.endswith(REPLACEMENT) and len(self._ids) - self._read < self._max_hold:
            return ""
        return self._emit(text)

    def flush(self) -> str:
        """Return whatever is still held back (an incomplete character decodes as U+FFFD)."""
        if self._read == len(self._ids):
            return ""
        return self._emit(self._text(self._ids, self._at_start))

    def _emit(self, text: str) -> str:
        # Past the start, decoders are local: the context's text is a prefix of the window's.
        new = text[len(self._text(self._ids[: self._read], self._at_start)) :]
        start = self._read  # the tokens just emitted become the next context
        if self._at_start and start > 0:
            if self._sentinel is None or self._can_leave_start(start) or len(self._ids) >= self._max_start:
                self._at_start = False
            else:
                start = 0
        self._ids = self._ids[start:]
        self._read = len(self._ids)
        return new

    def _can_leave_start(self, start: int) -> bool:
        """Does a sentinel-led window from `start` decode the probe as the whole text does?"""
        ids, probe = self._ids, [self._probe]
        whole = self._text(ids + probe, True)[len(self._text(ids, True)) :]
        window = self._text(ids[start:] + probe, False)[len(self._text(ids[start:], False)) :]
        return whole == window

    def _text(self, ids: Sequence[int], from_start: bool) -> str:
        """Text of ids, which begin the whole text (from_start) or follow other text."""
        if not ids:
            return ""
        if from_start or self._sentinel is None:
            return self._decode(ids)
        text = self._decode([self._sentinel, *ids])
        if text.startswith(self._sentinel_text):
            return text[len(self._sentinel_text) :]
        return self._decode(ids)
