"""Tokenizer: one interface over `tokenizers` (tokenizer.json, GGUF vocabularies) and sentencepiece.

    tok = Tokenizer.from_pretrained("path/to/model_dir")   # or a .json, .model or .gguf file
    ids = tok.encode("Hello")                             # BOS first when the checkpoint wants it
    text = tok.apply_chat([{"role": "user", "content": "Hi"}])

We always encode without the backend's own post-processing and add BOS/EOS ourselves, so one rule
(`add_bos`, `add_eos`) holds whatever the backend: tokenizer_config.json's `add_bos_token` when
given, else what tokenizer.json's post-processor does, else the GGUF flag, else True for
sentencepiece (the Llama-2 convention).
"""
from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import sentencepiece
import tokenizers

from recai.errors import TokenizerError
from recai.text.backends import SentencePieceBackend, TokenizersBackend
from recai.text.chat import default_system_prompt, detect_template, render_chat, to_jinja
from recai.text.stream import StreamDecoder

# Special tokens that end a turn or a document in common chat formats; generation stops on them.
END_OF_TURN = ("<|im_end|>", "<|eot_id|>", "<|eom_id|>", "<|end_of_text|>", "<|endoftext|>", "<end_of_turn>", "<|end|>")
LOOKED_FOR = "tokenizer.json, tokenizer.model, tok*.model or a single *.gguf"


class Tokenizer:
    """Text <-> token ids for one checkpoint, with its special tokens and chat format.

    Attributes: bos_id, eos_id, pad_id, unk_id (int or None); vocab_size; add_bos / add_eos (what
    `encode` does by default); stop_ids (EOS, generation_config's EOS list and end-of-turn tokens);
    chat_template ("chatml", "llama2", "llama3" or None) and chat_template_jinja (the checkpoint's
    own jinja text, kept so `save_pretrained` loses nothing); default_system (chatml only).
    """

    def __init__(
        self,
        backend,
        *,
        bos_id: int | None = None,
        eos_id: int | None = None,
        pad_id: int | None = None,
        unk_id: int | None = None,
        add_bos: bool = False,
        add_eos: bool = False,
        stop_ids=(),
        chat_template_jinja: str | None = None,
        source: str = "",
    ):
        self._backend = backend
        self.source = source  # where it was loaded from, for error messages
        self.vocab_size = backend.vocab_size
        self.bos_id, self.eos_id, self.pad_id, self.unk_id = bos_id, eos_id, pad_id, unk_id
        self.add_bos = bool(add_bos) and bos_id is not None
        self.add_eos = bool(add_eos) and eos_id is not None
        specials = backend.special
        turn_ends = {specials[t] for t in END_OF_TURN if t in specials}
        self.stop_ids: set[int] = {int(i) for i in stop_ids} | turn_ends | ({eos_id} if eos_id is not None else set())
        self.chat_template_jinja = chat_template_jinja
        self.chat_template = detect_template(chat_template_jinja, specials)
        self.default_system = default_system_prompt(chat_template_jinja) if self.chat_template == "chatml" else None

    # ---- loading -------------------------------------------------------------------------------

    @classmethod
    def from_pretrained(cls, path) -> "Tokenizer":
        """Load from a model directory or a tokenizer file.

        path: a directory holding tokenizer.json (with tokenizer_config.json, special_tokens_map.json,
        generation_config.json, chat_template.jinja beside it when present), or tokenizer.model /
        tok*.model (sentencepiece), or a single .gguf; or a .json, .model or .gguf file directly.
        Raises TokenizerError naming the path when nothing usable is there or a file is corrupt.
        """
        path = Path(path)
        if path.is_dir():
            file = _find_tokenizer_file(path)
        elif path.is_file():
            file = path
        else:
            raise TokenizerError(f"{path}: no such file or directory (looked for {LOOKED_FOR})")
        suffix = file.suffix.lower()
        if suffix == ".gguf":
            return cls.from_gguf(file)
        if suffix == ".json":
            return _from_tokenizer_json(cls, file)
        if suffix == ".model":
            return _from_sentencepiece(cls, file)
        raise TokenizerError(f"{file}: not a tokenizer file (expected {LOOKED_FOR})")

    @classmethod
    def from_gguf(cls, source) -> "Tokenizer":
        """Load the vocabulary embedded in a GGUF file (a path or an already opened GGUFFile)."""
        from recai.text.gguf_vocab import vocab_from_gguf  # lazy: only GGUF users need the reader

        v = vocab_from_gguf(source)
        return cls(
            TokenizersBackend(v.tokenizer, v.special_tokens),
            bos_id=v.bos_id,
            eos_id=v.eos_id,
            pad_id=v.pad_id,
            unk_id=v.unk_id,
            add_bos=v.add_bos,
            add_eos=v.add_eos,
            chat_template_jinja=v.chat_template,
            source=str(getattr(source, "path", source)),
        )

    # ---- text <-> ids --------------------------------------------------------------------------

    def encode(
        self, text: str, add_bos: bool | None = None, add_eos: bool | None = None, special: bool = True
    ) -> list[int]:
        """Token ids of text.

        add_bos / add_eos: None follows the checkpoint (`self.add_bos`, `self.add_eos`). special:
        True maps the text of special tokens (e.g. "<|im_start|>") to their ids; False encodes it
        as ordinary text (use it for untrusted input). Raises ValueError when BOS/EOS is asked for
        but the vocabulary has none.
        """
        if not isinstance(text, str):
            raise TypeError(f"encode() takes a str, got {type(text).__name__}")
        ids = self._backend.encode(text, special)
        if self.add_bos if add_bos is None else add_bos:
            ids.insert(0, self._required("bos_id"))
        if self.add_eos if add_eos is None else add_eos:
            ids.append(self._required("eos_id"))
        return ids

    def encode_batch(self, texts, max_length: int | None = None, add_bos: bool | None = None,
                     add_eos: bool | None = None, special: bool = True) -> list[list[int]]:
        """`encode` for many texts, each cut to at most max_length ids with BOS/EOS kept.

        Truncation drops the text's last tokens, as transformers' and sentence-transformers'
        `truncation=True` does for one sequence. Raises ValueError when max_length leaves no room
        for a text token, TypeError for a text that is not a str.
        """
        texts = list(texts)
        for i, t in enumerate(texts):
            if not isinstance(t, str):
                raise TypeError(f"encode_batch() takes str texts, got {type(t).__name__} at position {i}")
        bos = self._required("bos_id") if (self.add_bos if add_bos is None else add_bos) else None
        eos = self._required("eos_id") if (self.add_eos if add_eos is None else add_eos) else None
        affixes = (bos is not None) + (eos is not None)
        if max_length is not None and max_length <= affixes:
            raise ValueError(f"max_length={max_length} leaves no room for text next to {affixes} special token(s)")
        many = getattr(self._backend, "encode_many", None)
        bodies = many(texts, special) if many else [self._backend.encode(t, special) for t in texts]
        budget = None if max_length is None else max_length - affixes
        return [([bos] if bos is not None else []) + b[:budget] + ([eos] if eos is not None else []) for b in bodies]

    def decode(self, ids, skip_special: bool = False) -> str:
        """Text of token ids (a list, tuple, numpy array or 1-D tensor). skip_special drops special
        tokens such as BOS/EOS. Raises ValueError for ids outside the vocabulary."""
        ids = self._check_ids(ids)
        return self._backend.decode(ids, skip_special) if ids else ""

    def id_to_piece(self, token_id: int) -> str:
        """The vocabulary entry of one id, as stored (e.g. "Ġthe", "▁the", "<0x0A>")."""
        (token_id,) = self._check_ids([token_id])
        return self._backend.id_to_piece(token_id)

    def token_to_id(self, piece: str) -> int | None:
        """The id of a vocabulary entry, or None when there is no such entry."""
        return self._backend.token_to_id(piece)

    @property
    def special_tokens(self) -> dict[str, int]:
        """Special tokens by text (control and added special tokens)."""
        return dict(self._backend.special)

    def stream(self, skip_special: bool = False) -> StreamDecoder:
        """An incremental decoder: push ids one at a time, get printable text back."""
        decode = partial(self._backend.decode, skip_special=skip_special)
        return StreamDecoder(decode, self._backend.sentinel, self._backend.probe)

    def __len__(self) -> int:
        return self.vocab_size

    def __repr__(self) -> str:
        return f"Tokenizer({self.source!r}, vocab_size={self.vocab_size}, chat_template={self.chat_template!r})"

    # ---- chat ----------------------------------------------------------------------------------

    def apply_chat(self, messages: list[dict], add_generation_prompt: bool = True) -> str:
        """The conversation as prompt text in this checkpoint's chat format.

        messages: dicts with role in {system, user, assistant} and string content (ValueError
        otherwise). Raises TokenizerError when the checkpoint has no chat format we know.
        """
        if self.chat_template is None:
            why = "its jinja template is not one of chatml/llama2/llama3" if self.chat_template_jinja else "none found"
            raise TokenizerError(f"{self.source}: no chat template ({why}); set tokenizer.chat_template")
        return render_chat(
            self.chat_template,
            messages,
            add_generation_prompt,
            bos_token=self._text_of(self.bos_id),
            eos_token=self._text_of(self.eos_id),
            default_system=self.default_system,
        )

    def encode_chat(self, messages: list[dict], add_generation_prompt: bool = True) -> list[int]:
        """Token ids of `apply_chat`; BOS is whatever the template writes (as transformers does)."""
        return self.encode(self.apply_chat(messages, add_generation_prompt), add_bos=False, add_eos=False)

    # ---- saving --------------------------------------------------------------------------------

    def save_pretrained(self, directory) -> None:
        """Write files that both `Tokenizer.from_pretrained` and transformers' AutoTokenizer load
        as this tokenizer: tokenizer.json (or tokenizer.model for sentencepiece),
        tokenizer_config.json with special tokens, BOS/EOS flags and a jinja chat template
        rendering like `apply_chat`, and chat_template.jinja (where transformers >= 5 looks first).
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        config = {"add_bos_token": self.add_bos, "add_eos_token": self.add_eos, "clean_up_tokenization_spaces": False}
        ids = {"bos_token": self.bos_id, "eos_token": self.eos_id, "unk_token": self.unk_id, "pad_token": self.pad_id}
        config.update({key: self._backend.id_to_piece(i) for key, i in ids.items() if i is not None})
        if isinstance(self._backend, SentencePieceBackend):
            (directory / "tokenizer.model").write_bytes(self._backend.sp.serialized_model_proto())
            config.update(tokenizer_class="LlamaTokenizer", legacy=True, sp_model_kwargs={})
        else:
            data = json.loads(self._backend.tok.to_str())
            bos, eos = self._affix(self.bos_id, self.add_bos), self._affix(self.eos_id, self.add_eos)
            data["post_processor"] = _post_processor(data.get("post_processor"), bos, eos)
            (directory / "tokenizer.json").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
            config["tokenizer_class"] = "PreTrainedTokenizerFast"
        template = to_jinja(self.chat_template, self.default_system) if self.chat_template else self.chat_template_jinja
        if template:
            config["chat_template"] = template
            (directory / "chat_template.jinja").write_text(template, encoding="utf-8")
        config_text = json.dumps(config, indent=2, ensure_ascii=False)
        (directory / "tokenizer_config.json").write_text(config_text, encoding="utf-8")

    # ---- helpers -------------------------------------------------------------------------------

    def _required(self, name: str) -> int:
        value = getattr(self, name)
        if value is None:
            raise ValueError(f"{self.source}: the vocabulary has no {name[:3].upper()} token")
        return value

    def _text_of(self, token_id: int | None) -> str:
        return "" if token_id is None else self._backend.id_to_piece(token_id)

    def _affix(self, token_id: int | None, wanted: bool):
        return (self._backend.id_to_piece(token_id), token_id) if wanted and token_id is not None else None

    def _check_ids(self, ids) -> list[int]:
        if hasattr(ids, "tolist"):  # numpy arrays and torch tensors
            ids = ids.tolist()
        ids = [int(i) for i in ids]
        if ids and (min(ids) < 0 or max(ids) >= self.vocab_size):
            bad = next(i for i in ids if not 0 <= i < self.vocab_size)
            raise ValueError(f"token id {bad} is outside the vocabulary of {self.source} (size {self.vocab_size})")
        return ids


# ---- loading helpers ---------------------------------------------------------------------------


def tokenizer_for_model(model_path, explicit=None) -> Tokenizer:
    """The tokenizer at `explicit` if given, else the one inside (HF dir, GGUF) or beside the model.

    Raises TokenizerError naming the model and suggesting an explicit tokenizer path.
    """
    if explicit is not None:
        return Tokenizer.from_pretrained(explicit)
    model_path = Path(model_path)
    where = model_path if model_path.is_dir() or model_path.suffix == ".gguf" else model_path.parent
    try:
        return Tokenizer.from_pretrained(where)
    except TokenizerError as e:
        raise TokenizerError(f"tokenizer for {model_path}: {e}; pass --tokenizer PATH") from e


def _find_tokenizer_file(directory: Path) -> Path:
    for name in ("tokenizer.json", "tokenizer.model"):
        if (directory / name).is_file():
            return directory / name
    models = sorted(directory.glob("tok*.model"))
    if models:
        return models[0]
    ggufs = sorted(directory.glob("*.gguf"))
    if len(ggufs) == 1:
        return ggufs[0]
    found = f"; {len(ggufs)} .gguf files, pass one" if ggufs else ""
    raise TokenizerError(f"{directory}: no tokenizer found (looked for {LOOKED_FOR}){found}")


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise TokenizerError(f"{path}: unreadable JSON ({e})") from e
    if not isinstance(data, dict):
        raise TokenizerError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


class _Metadata:
    """What the files beside a tokenizer say about its special tokens and chat format."""

    def __init__(self, directory: Path):
        self.config_file = directory / "tokenizer_config.json"
        self.config = _read_json(self.config_file) if self.config_file.is_file() else {}
        special_map = directory / "special_tokens_map.json"
        for key, value in (_read_json(special_map) if special_map.is_file() else {}).items():
            self.config.setdefault(key, value)  # tokenizer_config.json wins where both say
        gen_file = directory / "generation_config.json"
        gen = _read_json(gen_file) if gen_file.is_file() else {}
        eos = gen.get("eos_token_id")
        self.stop_ids = set(eos if isinstance(eos, list) else [] if eos is None else [eos])
        if not all(isinstance(i, int) and not isinstance(i, bool) for i in self.stop_ids):
            raise TokenizerError(f"{gen_file}: eos_token_id must be an int or a list of ints, got {eos!r}")
        self.chat_template = self._chat_template(directory)

    def token(self, key: str) -> str | None:
        """The text of a special token entry: a string or an AddedToken dict."""
        value = self.config.get(key)
        return value.get("content") if isinstance(value, dict) else value

    def resolve(self, key: str, backend) -> int | None:
        text = self.token(key)
        if text is None:
            return None
        i = backend.token_to_id(text)
        if i is None:
            raise TokenizerError(f"{self.config_file}: {key} {text!r} is not in the vocabulary")
        return i

    def flag(self, key: str) -> bool | None:
        value = self.config.get(key)
        return None if value is None else bool(value)

    def _chat_template(self, directory: Path) -> str | None:
        jinja_file = directory / "chat_template.jinja"
        if jinja_file.is_file():
            return jinja_file.read_text(encoding="utf-8")
        template = self.config.get("chat_template")
        if isinstance(template, list):  # named templates: [{"name": "default", "template": ...}, ...]
            named = {t.get("name"): t.get("template") for t in template if isinstance(t, dict)}
            template = named.get("default")
        return template if isinstance(template, str) else None


def _from_tokenizer_json(cls, file: Path) -> Tokenizer:
    try:
        tok = tokenizers.Tokenizer.from_file(str(file))
    except Exception as e:  # tokenizers raises a bare Exception for malformed files
        raise TokenizerError(f"{file}: not a valid tokenizer.json ({e})") from e
    backend = TokenizersBackend(tok)
    meta = _Metadata(file.parent)
    before, after = backend.affixes()
    bos_id = meta.resolve("bos_token", backend)
    eos_id = meta.resolve("eos_token", backend)
    # Without a config, a single token the post-processor puts in front (behind) is BOS (EOS).
    if bos_id is None and len(before) == 1:
        bos_id = before[0]
    if eos_id is None and len(after) == 1:
        eos_id = after[0]
    add_bos = meta.flag("add_bos_token")
    add_eos = meta.flag("add_eos_token")
    return cls(
        backend,
        bos_id=bos_id,
        eos_id=eos_id,
        pad_id=meta.resolve("pad_token", backend),
        unk_id=meta.resolve("unk_token", backend),
        add_bos=(before == [bos_id]) if add_bos is None else add_bos,
        add_eos=(after == [eos_id]) if add_eos is None else add_eos,
        stop_ids=meta.stop_ids,
        chat_template_jinja=meta.chat_template,
        source=str(file),
    )


def _from_sentencepiece(cls, file: Path) -> Tokenizer:
    sp = sentencepiece.SentencePieceProcessor()
    try:
        sp.Load(str(file))
    except (OSError, RuntimeError) as e:
        raise TokenizerError(f"{file}: not a valid sentencepiece model ({e})") from e
    backend = SentencePieceBackend(sp)
    meta = _Metadata(file.parent)

    def sp_id(i: int) -> int | None:
        return i if i >= 0 else None  # sentencepiece says -1 for "none"

    bos_id = meta.resolve("bos_token", backend)
    eos_id = meta.resolve("eos_token", backend)
    add_bos = meta.flag("add_bos_token")
    return cls(
        backend,
        bos_id=sp_id(sp.bos_id()) if bos_id is None else bos_id,
        eos_id=sp_id(sp.eos_id()) if eos_id is None else eos_id,
        pad_id=meta.resolve("pad_token", backend) if meta.token("pad_token") else sp_id(sp.pad_id()),
        unk_id=sp_id(sp.unk_id()),
        add_bos=True if add_bos is None else add_bos,  # sentencepiece checkpoints are Llama-2 style
        add_eos=bool(meta.flag("add_eos_token")),
        stop_ids=meta.stop_ids,
        chat_template_jinja=meta.chat_template,
        source=str(file),
    )


def _post_processor(old: dict | None, bos, eos) -> dict | None:
    """tokenizer.json's post-processor rewritten to add exactly `bos` / `eos` ((text, id) or None),
    so transformers' encode (which runs it) matches ours. Other steps (ByteLevel offsets) stay."""
    template_kinds = ("TemplateProcessing", "BertProcessing", "RobertaProcessing")
    if old is None:
        kept = []
    elif old.get("type") == "Sequence":
        kept = [p for p in old.get("processors", []) if p.get("type") not in template_kinds]
    else:
        kept = [] if old.get("type") in template_kinds else [old]
    if bos or eos:
        specials = {text: {"id": text, "ids": [i], "tokens": [text]} for text, i in filter(None, (bos, eos))}

        def one(seq: str, type_id: int) -> list[dict]:
            head = [{"SpecialToken": {"id": bos[0], "type_id": type_id}}] if bos else []
            tail = [{"SpecialToken": {"id": eos[0], "type_id": type_id}}] if eos else []
            return head + [{"Sequence": {"id": seq, "type_id": type_id}}] + tail

        pair = one("A", 0) + one("B", 1)
        kept.append({"type": "TemplateProcessing", "single": one("A", 0), "pair": pair, "special_tokens": specials})
    if not kept:
        return None
    return kept[0] if len(kept) == 1 else {"type": "Sequence", "processors": kept}
