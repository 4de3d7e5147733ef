"""The tokenizer a GGUF file describes in its metadata, rebuilt as a `tokenizers.Tokenizer`.

A GGUF has no tokenizer.json: llama.cpp stores the vocabulary under `tokenizer.ggml.*` keys and
picks the algorithm from `tokenizer.ggml.model`:

- "gpt2": byte-level BPE (tokens + merges). How text is split before BPE is not stored, only named
  by `tokenizer.ggml.pre`; _PRE_TOKENIZERS maps those names to llama.cpp's split rules.
- "llama": a SentencePiece BPE vocabulary (tokens + scores + token types, bytes as `<0xXX>`).
  SentencePiece merges the adjacent pair whose result scores highest, so a `tokenizers` BPE whose
  merges are ranked by the merged piece's score, with byte fallback, encodes identically.

Tokens typed control (3), user-defined (4) or unknown (2) are registered as added tokens, so their
text maps to their single id, as in llama.cpp with special-token parsing on.

    vocab = vocab_from_gguf("model.gguf")
    ids = vocab.tokenizer.encode("<|im_start|>user\\nhi", add_special_tokens=False).ids
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

from recai.errors import TokenizerError
from recai.nn.gguf import GGUFFile, read_gguf

# llama.cpp's token types (llama_token_type).
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6
SPIECE_SPACE = "\u2581"  # "▁", SentencePiece's visible space

# Split rules of llama.cpp's pre-tokenizer types (llama-vocab.cpp), as tokenizers regexes.
_LLAMA3_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_QWEN2_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)


def _gpt2_split():  # ByteLevel's own regex is GPT-2's: 's|'t|...| ?\p{L}+| ?\p{N}+|...
    return pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)


def _digits_then_gpt2():  # starcoder-style: every digit alone, then GPT-2's split
    return pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), _gpt2_split()])


def _regex_split(pattern: str):
    return lambda: pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(pattern), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )


# Pre types llama.cpp treats as Llama 3: its split, merges skipped for a pre-token that is already
# a vocabulary entry (tokenizer.json's "ignore_merges": true), and BOS added by default.
_LLAMA3_FAMILY = {
    "llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2", "jina-v5-nano"
}  # fmt: skip

# tokenizer.ggml.pre -> pre-tokenizer factory. Names not listed (and "default", or no key) get
# GPT-2's split, what a byte-level BPE without other information was most likely trained with;
# llama.cpp's own fallback for "default" is a cruder regex it warns about.
_PRE_TOKENIZERS = {
    **dict.fromkeys(["gpt2", "default", "mpt", "olmo", "jais", "trillion"], _gpt2_split),
    **dict.fromkeys(
        ["smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva"], _digits_then_gpt2
    ),
    **dict.fromkeys([*_LLAMA3_FAMILY, "dbrx", "smaug-bpe"], _regex_split(_LLAMA3_SPLIT)),
    **dict.fromkeys(["qwen2", "deepseek-r1-qwen", "stablelm2", "megrez", "hunyuan"], _regex_split(_QWEN2_SPLIT)),
}


@dataclass
class GGUFVocab:
    """A GGUF's tokenizer plus the facts about it that the file states.

    tokenizer: encodes like llama.cpp; `encode(s)` adds BOS/EOS per add_bos/add_eos, and
        `encode(s, add_special_tokens=False)` adds nothing.
    model: "gpt2" (byte-level BPE) or "llama" (SentencePiece-style BPE).
    special_tokens: control, user-defined and unknown tokens, in id order, matched whole in text.
    chat_template: the raw jinja of tokenizer.chat_template, None if absent.
    """

    tokenizer: Tokenizer
    model: str
    bos_id: int | None
    eos_id: int | None
    pad_id: int | None
    unk_id: int | None
    add_bos: bool
    add_eos: bool
    special_tokens: list[str]
    chat_template: str | None


class _Meta:
    """Typed access to tokenizer.* metadata; errors name the file and the key."""

    def __init__(self, gf: GGUFFile):
        self.path, self.md = gf.path, gf.metadata

    def fail(self, msg: str) -> TokenizerError:
        return TokenizerError(f"{self.path}: {msg}")

    def require(self, key: str):
        if key not in self.md:
            raise self.fail(f"missing tokenizer metadata key {key!r}")
        return self.md[key]

    def string(self, key: str, default: str | None = None, required: bool = False) -> str | None:
        value = self.require(key) if required else self.md.get(key, default)
        if value is not None and not isinstance(value, str):
            raise self.fail(f"{key} is {value!r}, expected a string")
        return value

    def list_of(self, key: str, kind: type, length: int | None = None, required: bool = True) -> list | None:
        value = self.require(key) if required else self.md.get(key)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, kind) for v in value):
            raise self.fail(f"{key} must be an array of {kind.__name__}")
        if length is not None and len(value) != length:
            raise self.fail(f"{key} has {len(value)} entries but tokenizer.ggml.tokens has {length}")
        return value

    def token_id(self, key: str, n_tokens: int) -> int | None:
        value = self.md.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < n_tokens:
            raise self.fail(f"{key} is {value!r}, not a token id in [0, {n_tokens})")
        return value

    def flag(self, key: str, default: bool) -> bool:
        value = self.md.get(key, default)
        if not isinstance(value, bool):
            raise self.fail(f"{key} is {value!r}, expected a bool")
        return value


def _split_merge(meta: _Meta, merge: str, vocab: dict[str, int], index: int) -> tuple[str, str]:
    """'left right' -> (left, right). Tokens may themselves hold spaces, so try each space."""
    at = merge.find(" ")
    while at != -1:
        left, right = merge[:at], merge[at + 1 :]
        if left in vocab and right in vocab and left + right in vocab:
            return left, right
        at = merge.find(" ", at + 1)
    raise meta.fail(
        f"tokenizer.ggml.merges[{index}] = {merge!r} is not two tokens joined by a space "
        f"whose concatenation is a token too"
    )


def _byte_level_bpe(meta: _Meta, tokens: list[str]) -> Tokenizer:
    vocab = {token: i for i, token in enumerate(tokens)}
    merges = [_split_merge(meta, m, vocab, i) for i, m in enumerate(meta.list_of("tokenizer.ggml.merges", str))]
    pre = meta.string("tokenizer.ggml.pre", "default")
    # ignore_merges only when needed: older tokenizers releases lack the argument
    extra = {"ignore_merges": True} if pre in _LLAMA3_FAMILY else {}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, **extra))
    tok.pre_tokenizer = _PRE_TOKENIZERS.get(pre, _gpt2_split)()
    tok.decoder = decoders.ByteLevel()
    return tok


def _merges_from_scores(tokens: list[str], scores: list[float], types: list[int]) -> list[tuple[str, str]]:
    """Every split of a normal piece into two vocabulary pieces, best merged score first.

    SentencePiece BPE repeatedly joins the adjacent pair whose concatenation is the highest-scoring
    piece (leftmost on ties); ranking the merges by that score makes tokenizers' BPE do the same.
    """
    # Byte pieces only appear after BPE (fallback) and control pieces never: neither merges.
    vocab = {token: i for i, token in enumerate(tokens) if types[i] == NORMAL}
    ranked = []
    for piece, i in vocab.items():
        for k in range(1, len(piece)):
            left, right = piece[:k], piece[k:]
            if left in vocab and right in vocab:
                ranked.append((-scores[i], i, left, right))
    ranked.sort(key=lambda r: (r[0], r[1]))  # (-score, id): stable, deterministic ties
    return [(left, right) for _, _, left, right in ranked]


def _sentencepiece_bpe(meta: _Meta, tokens: list[str], types: list[int], unk_id: int | None) -> Tokenizer:
    # Merges come from the scores, as in llama.cpp's SPM tokenizer; tokenizer.ggml.merges, which
    # some converters also write, is ignored here.
    scores = meta.list_of("tokenizer.ggml.scores", float, len(tokens))
    model = models.BPE(
        vocab={token: i for i, token in enumerate(tokens)},
        merges=_merges_from_scores(tokens, scores, types),
        unk_token=tokens[unk_id] if unk_id is not None else None,
        fuse_unk=True,  # SentencePiece emits one unknown for a run of unknown characters
        byte_fallback=True,  # characters outside the vocabulary become <0xXX> byte pieces
    )
    tok = Tokenizer(model)
    # SentencePiece's normalisation. remove_extra_whitespaces (llama.cpp writes it for T5-style
    # vocabularies only; off when absent) strips and collapses runs of U+0020, and nothing else.
    steps = []
    if meta.flag("tokenizer.ggml.remove_extra_whitespaces", False):
        steps += [normalizers.Replace(Regex(r"\A +| +\z"), ""), normalizers.Replace(Regex(" {2,}"), " ")]
    add_prefix = meta.flag("tokenizer.ggml.add_space_prefix", True)
    if add_prefix:
        # Applied per stretch of text between special tokens: llama.cpp also re-adds the dummy
        # prefix after each special token.
        steps.append(normalizers.Prepend(SPIECE_SPACE))
    steps.append(normalizers.Replace(" ", SPIECE_SPACE))
    tok.normalizer = normalizers.Sequence(steps)
    tok.pre_tokenizer = None  # SentencePiece runs BPE over the whole normalised text
    parts = [decoders.Replace(SPIECE_SPACE, " "), decoders.ByteFallback(), decoders.Fuse()]
    if add_prefix:
        parts.append(decoders.Strip(" ", 1, 0))  # drop the dummy prefix again
    tok.decoder = decoders.Sequence(parts)
    return tok


def _post_processor(tokens: list[str], bos: int | None, eos: int | None, add_bos: bool, add_eos: bool):
    """BOS/EOS around each sequence, as llama.cpp's tokenize(add_special=true) does."""
    head = [tokens[bos]] if add_bos and bos is not None else []
    tail = [tokens[eos]] if add_eos and eos is not None else []
    if not head and not tail:
        return None
    used = ([(tokens[bos], bos)] if head else []) + ([(tokens[eos], eos)] if tail else [])
    return processors.TemplateProcessing(
        single=[*head, "$A", *tail],
        pair=[*head, "$A", *tail, *head, "$B:1", *tail],
        special_tokens=list(dict(used).items()),  # one entry even when BOS and EOS are one token
    )


def _register_special(tok: Tokenizer, tokens: list[str], types: list[int]) -> list[str]:
    """Add control/unknown tokens as special and user-defined ones as plain added tokens.

    Their text is in the vocabulary already, so each keeps its id. User-defined tokens (like
    `<think>`) are not special: decoding with skip_special_tokens keeps them, as llama.cpp does.
    """
    listed = [(t, ty) for t, ty in zip(tokens, types) if ty in (UNKNOWN, CONTROL, USER_DEFINED)]
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t, ty in listed if ty != USER_DEFINED])
    tok.add_tokens([AddedToken(t, special=False, normalized=False) for t, ty in listed if ty == USER_DEFINED])
    return [t for t, _ in listed]


def vocab_from_gguf(source: GGUFFile | str | Path) -> GGUFVocab:
    """Build the tokenizer described by a GGUF file's tokenizer.* metadata.

    Raises TokenizerError naming the file and key when a required key (tokenizer.ggml.model,
    .tokens, .merges for "gpt2", .scores for "llama") is missing or malformed, when a special
    token id is out of range, or when the model type is neither "gpt2" nor "llama".
    CheckpointError if a path is given and the file itself is not valid GGUF.
    """
    gf = source if isinstance(source, GGUFFile) else read_gguf(source)
    meta = _Meta(gf)
    model = meta.string("tokenizer.ggml.model", required=True)
    tokens = meta.list_of("tokenizer.ggml.tokens", str)
    types = meta.list_of("tokenizer.ggml.token_type", int, len(tokens), required=False) or [NORMAL] * len(tokens)
    ids = {
        name: meta.token_id(f"tokenizer.ggml.{name}_token_id", len(tokens))
        for name in ("bos", "eos", "padding", "unknown")
    }
    if model == "gpt2":
        tok = _byte_level_bpe(meta, tokens)
    elif model == "llama":
        tok = _sentencepiece_bpe(meta, tokens, types, ids["unknown"])
    else:
        raise meta.fail(f"tokenizer.ggml.model is {model!r}; supported: 'gpt2', 'llama'")
    special = _register_special(tok, tokens, types)
    # llama.cpp's defaults when the file does not say: BOS for SentencePiece and Llama 3 vocabularies.
    pre = meta.string("tokenizer.ggml.pre", "default")
    add_bos = meta.flag("tokenizer.ggml.add_bos_token", model == "llama" or pre in _LLAMA3_FAMILY)
    add_eos = meta.flag("tokenizer.ggml.add_eos_token", False)
    post = _post_processor(tokens, ids["bos"], ids["eos"], add_bos, add_eos)
    if post is not None:
        tok.post_processor = post
    return GGUFVocab(
        tokenizer=tok,
        model=model,
        bos_id=ids["bos"],
        eos_id=ids["eos"],
        pad_id=ids["padding"],
        unk_id=ids["unknown"],
        add_bos=add_bos,
        add_eos=add_eos,
        special_tokens=special,
        chat_template=meta.string("tokenizer.chat_template"),
    )
