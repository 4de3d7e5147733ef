"""Tokenizer backends: thin adapters giving `tokenizers` and sentencepiece one interface.

Each backend offers encode(text, special), decode(ids, skip_special), id_to_piece, token_to_id,
`special` (text -> id), `vocab_size`, and the (sentinel, probe) pair StreamDecoder needs. They know
nothing of BOS/EOS or chat formats; `recai.text.tokenizer.Tokenizer` adds those on top.
"""
from __future__ import annotations

import re

import sentencepiece
import tokenizers


class TokenizersBackend:
    """A `tokenizers.Tokenizer`: tokenizer.json files and vocabularies rebuilt from GGUF."""

    def __init__(self, tok: tokenizers.Tokenizer, extra_special=()):
        # Some tokenizer.json files carry padding/truncation settings; transformers ignores them
        # unless asked per call, and so do we.
        tok.no_padding()
        tok.no_truncation()
        self.tok = tok
        self._plain = None  # a copy that reads special-token text as plain text, made on first use
        added = tok.get_added_tokens_decoder()
        self.special = {t.content: i for i, t in added.items() if t.special}
        for text in extra_special:
            if tok.token_to_id(text) is not None:
                self.special.setdefault(text, tok.token_to_id(text))
        self.vocab_size = tok.get_vocab_size(with_added_tokens=True)
        self.sentinel, self.probe = _find_sentinel(self)

    def encode(self, text: str, special: bool) -> list[int]:
        if special:
            return self.tok.encode(text, add_special_tokens=False).ids
        if self._plain is None:
            self._plain = tokenizers.Tokenizer.from_str(self.tok.to_str())
            self._plain.encode_special_tokens = True
        return self._plain.encode(text, add_special_tokens=False).ids

    def encode_many(self, texts: list[str], special: bool) -> list[list[int]]:
        """`encode` for a batch, in parallel inside tokenizers (the special=False path loops)."""
        if special:
            return [e.ids for e in self.tok.encode_batch(texts, add_special_tokens=False)]
        return [self.encode(t, special) for t in texts]

    def decode(self, ids: list[int], skip_special: bool) -> str:
        return self.tok.decode(ids, skip_special_tokens=skip_special)

    def id_to_piece(self, i: int) -> str:
        return self.tok.id_to_token(i)

    def token_to_id(self, piece: str) -> int | None:
        return self.tok.token_to_id(piece)

    def affixes(self) -> tuple[list[int], list[int]]:
        """The ids tokenizer.json's post-processor puts before and after a text."""
        plain = self.tok.encode("a", add_special_tokens=False).ids
        full = self.tok.encode("a", add_special_tokens=True).ids
        for start in range(len(full) - len(plain) + 1):
            if full[start : start + len(plain)] == plain:
                return full[:start], full[start + len(plain) :]
        return [], []


class SentencePieceBackend:
    """A `sentencepiece.SentencePieceProcessor` (.model files)."""

    def __init__(self, sp: sentencepiece.SentencePieceProcessor):
        self.sp = sp
        self.sentinel = self.probe = None  # decode() works without them; found at the end
        self.vocab_size = sp.get_piece_size()
        ids = range(self.vocab_size)
        self.control = {i for i in ids if sp.is_control(i)}
        # Control pieces (<s>, </s>) and <unk> are what transformers' Llama tokenizer treats as special.
        self.special = {sp.id_to_piece(i): i for i in ids if i in self.control or sp.is_unknown(i)}
        alternatives = "|".join(re.escape(s) for s in sorted(self.special, key=len, reverse=True))
        self._split = re.compile(f"({alternatives})") if alternatives else None
        self.sentinel, self.probe = _find_sentinel(self)

    def encode(self, text: str, special: bool) -> list[int]:
        if not special or self._split is None:
            return self.sp.encode(text)
        ids: list[int] = []
        # re.split with a group alternates text, special, text, ...; each text part is encoded on
        # its own (with its dummy-prefix space), as transformers' legacy Llama tokenizer and Meta's
        # reference chat code do.
        for k, part in enumerate(self._split.split(text)):
            if k % 2:
                ids.append(self.special[part])
            elif part:
                ids += self.sp.encode(part)
        return ids

    def decode(self, ids: list[int], skip_special: bool) -> str:
        if skip_special or not self.control.intersection(ids):
            return self.sp.decode(ids)
        # sentencepiece renders control tokens as "", so write their text between the runs. A run
        # after a control token keeps its leading space ("<s> Hello"), as transformers' Llama
        # tokenizers decode; only a run that starts the text loses it.
        out, run = [], []
        for i in [*ids, None]:
            if i is not None and i not in self.control:
                run.append(i)
                continue
            if run:
                out.append(self._decode_inner(run) if out else self.sp.decode(run))
                run = []
            if i is not None:
                out.append(self.sp.id_to_piece(i))
        return "".join(out)

    def _decode_inner(self, run: list[int]) -> str:
        # Decode as if preceded by text: put the sentinel in front and cut its text off again.
        if self.sentinel is None:
            return self.sp.decode(run)
        head = self.sp.decode([self.sentinel])
        return self.sp.decode([self.sentinel, *run])[len(head) :]

    def id_to_piece(self, i: int) -> str:
        return self.sp.id_to_piece(i)

    def token_to_id(self, piece: str) -> int | None:
        i = self.sp.piece_to_id(piece)
        return i if self.sp.id_to_piece(i) == piece else None


def _find_sentinel(backend) -> tuple[int | None, int | None]:
    """Two tokens for StreamDecoder: a sentinel, whose text is non-empty, starts with no space and
    repeats verbatim (safe to put in front of a window: the decoder strips nothing after it), and a
    probe, which decodes with a leading space after the sentinel. (None, None) if there are none."""
    special = set(backend.special.values())
    candidates = range(min(backend.vocab_size, 4000))

    def ok(i):
        return i is not None and i not in special

    sentinel = None
    for i in [backend.token_to_id(s) for s in ("a", "e", "x", "A")] + list(candidates):
        text = backend.decode([i], False) if ok(i) else ""
        if text and not text[0].isspace() and "\ufffd" not in text and backend.decode([i, i], False) == text * 2:
            sentinel, head = i, text
            break
    if sentinel is None:
        return None, None
    for i in [backend.token_to_id(s) for s in ("\u2581the", "\u0120the", " the")] + list(candidates):
        text = backend.decode([sentinel, i], False) if ok(i) else ""
        if text.startswith(head + " ") and len(text) > len(head) + 1 and "\ufffd" not in text:
            return sentinel, i
    return None, None
