"""recai.text.gguf_vocab against transformers' GGUF tokenizer (SmolLM2) and sentencepiece (stories260K tok512)."""
import random
from pathlib import Path

import gguf
import pytest
import sentencepiece as spm
from tokenizers import Tokenizer, pre_tokenizers

from recai.errors import TokenizerError
from recai.nn.gguf import read_gguf
from recai.text.gguf_vocab import vocab_from_gguf

WORDS = [
    "the", "The", "hello", "world", "recommend", "tokenizer", "don't", "WE'LL", "it's", "naïve", "café", "Straße",
    "Привет", "мир", "Γειά", "σου", "مرحبا", "שלום", "नमस्ते", "你好", "世界", "こんにちは", "カタカナ", "안녕하세요",
    "ﬁ", "ａｂｃ", "e\u0301", "x\u200by", "snake_case", "camelCase", "http://a.b/c?d=1",
]  # fmt: skip
PUNCT = [".", ",", "!", "?", ";", ":", "...", "—", "(", ")", "[", "]", "{", "}", "\"", "'", "#", "$", "%", "&",
         "*", "+", "-", "=", "/", "\\", "<", ">", "|", "~", "`", "^", "@", "->", "==", "**"]  # fmt: skip
NUMBERS = ["0", "7", "42", "123", "2024", "3.14159", "1,000,000", "12345678901234567890", "٣", "½"]
SPACES = [" ", "  ", "   ", "\t", "\t\t", "\n", "\n\n", "\r\n", " \n ", "    \n", "\u00a0", "\u3000"]
EMOJI = ["😀", "🎉", "👍🏽", "👨‍👩‍👧‍👦", "🏳️‍🌈", "❤️", "🤖"]
FIXED = ["", " ", "  ", "\n", "\t", "Hello world", " Hello", "Hello ", "a  b", "a\n\nb", "\r\n",
         "def f(x):\n    return x**2\n", "    indented\n\tcode", "1+1=2", "x" * 40, "9" * 30,
         "trailing spaces   ", "   leading spaces", "mixed\t \n\r whitespace", "😀😀😀", "日本語のテキスト"]  # fmt: skip


def corpus(specials: list[str], n: int = 300, seed: int = 0) -> list[str]:
    """FIXED plus random mixes of the pools (and of `specials`), deterministic."""
    rng = random.Random(seed)
    pools = [WORDS, WORDS, PUNCT, NUMBERS, SPACES, EMOJI] + ([specials] if specials else [])
    out = list(FIXED) + [f"{s}text" for s in specials] + [f"a {s} b" for s in specials]
    while len(out) < n:
        parts = [rng.choice(rng.choice(pools)) for _ in range(rng.randint(1, 12))]
        out.append("".join(p + rng.choice(["", "", " "]) for p in parts))
    return out


SMOL_SPECIALS = ["<|im_start|>", "<|im_end|>", "<|endoftext|>", "<repo_name>", "<file_sep>", "<empty_output>"]
SMOL_CORPUS = corpus(SMOL_SPECIALS) + [
    "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n",
    "<|im_start|><|im_end|>",
    "<|im_start",
    "im_end|>",
    "<|im_start|> spaced <|im_end|>",
]


# --- SmolLM2 (byte-level BPE) vs transformers -------------------------------------------------


@pytest.fixture(scope="module")
def smol(smollm2_gguf):
    transformers = pytest.importorskip("transformers")
    path = Path(smollm2_gguf)
    hf = transformers.AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    return vocab_from_gguf(path), hf


def smollm_split(hf) -> Tokenizer:
    """transformers' GGUF tokenizer with SmolLM2's real pre-tokenizer.

    transformers does not know tokenizer.ggml.pre = "smollm" and falls back to GPT-2's split.
    llama.cpp (and SmolLM2's own tokenizer.json) first split every digit off, then apply GPT-2's
    regex; recai follows them. The two differ only where whitespace directly precedes a digit:
    "\r\n2024" is ["\r\n", "2", ...] for llama.cpp but ["\r", "\n", "2", ...] for transformers.
    """
    fixed = Tokenizer.from_str(hf.backend_tokenizer.to_str())
    fixed.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    return fixed


def space_before_number(s: str) -> bool:
    return any(a.isspace() and b.isnumeric() for a, b in zip(s, s[1:]))


def test_smollm2_encode_decode_match_transformers(smol):
    vocab, hf = smol
    reference = smollm_split(hf)
    assert len(SMOL_CORPUS) >= 300
    same_as_plain_hf = 0
    for s in SMOL_CORPUS:
        ids = vocab.tokenizer.encode(s, add_special_tokens=False).ids
        assert ids == reference.encode(s, add_special_tokens=False).ids, repr(s)
        if not space_before_number(s):  # where the split rules agree, plain transformers agrees too
            assert ids == hf.encode(s, add_special_tokens=False), repr(s)
            same_as_plain_hf += 1
        assert vocab.tokenizer.decode(ids, skip_special_tokens=False) == s == hf.decode(ids), repr(s)
    assert same_as_plain_hf > 200
    # the documented difference itself: llama.cpp keeps "\r\n" whole before a digit
    assert vocab.tokenizer.encode("\r\n2024", add_special_tokens=False).tokens == ["čĊ", "2", "0", "2", "4"]
    assert hf.tokenize("\r\n2024") == ["č", "Ċ", "2", "0", "2", "4"]


def test_smollm2_special_tokens_and_facts(smol, smollm2_gguf):
    vocab, _ = smol
    md = read_gguf(smollm2_gguf).metadata  # equal to gguf.GGUFReader's, see tests/nn/test_gguf.py
    assert vocab.model == "gpt2"
    assert (vocab.bos_id, vocab.eos_id, vocab.pad_id, vocab.unk_id) == (1, 2, 2, 0)
    assert (vocab.add_bos, vocab.add_eos) == (False, False)
    assert vocab.chat_template == md["tokenizer.chat_template"] and vocab.chat_template.startswith("{% for message")
    assert vocab.special_tokens[:3] == ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    assert len(vocab.special_tokens) == 17
    tok = vocab.tokenizer
    assert tok.get_vocab_size() == 49152  # special tokens kept their ids, nothing was appended
    assert tok.encode("<|im_start|>user\nhi<|im_end|>", add_special_tokens=False).ids == [1, 4093, 198, 6004, 2]
    assert tok.encode("hi").ids == tok.encode("hi", add_special_tokens=False).ids  # no BOS for this model
    assert tok.decode([1, 6004, 2], skip_special_tokens=True) == "hi"
    # smollm splits digits one by one, like llama.cpp and SmolLM2's own tokenizer.json
    assert len(tok.encode("12345", add_special_tokens=False).ids) == 5
    copy = Tokenizer.from_str(tok.to_str())  # serialisable, as recai.text's backend needs
    assert copy.encode("<|im_start|>a  12\r\n").ids == tok.encode("<|im_start|>a  12\r\n").ids


def test_vocab_from_parsed_file_equals_from_path(smollm2_gguf):
    a, b = vocab_from_gguf(read_gguf(smollm2_gguf)), vocab_from_gguf(str(smollm2_gguf))
    s = "<|im_start|>Recommend 3 books 📚<|im_end|>"
    assert a.tokenizer.encode(s).ids == b.tokenizer.encode(s).ids


# --- SentencePiece (llama) vs sentencepiece ---------------------------------------------------


def sp_types(sp: spm.SentencePieceProcessor) -> list[int]:
    def kind(i):
        if sp.is_unknown(i):
            return 2
        if sp.is_control(i):
            return 3
        if sp.is_unused(i):
            return 5
        return 6 if sp.is_byte(i) else 1

    return [kind(i) for i in range(sp.vocab_size())]


@pytest.fixture(scope="module")
def tok512(stories_dir, tmp_path_factory):
    sp = spm.SentencePieceProcessor(model_file=str(stories_dir / "tok512.model"))
    # tok512 was trained with SentencePiece's default remove_extra_whitespaces=True; llama.cpp's
    # key for that flag carries it into the GGUF.
    assert sp.encode("  a  b ") == sp.encode("a b")
    path = tmp_path_factory.mktemp("sp") / "tok512.gguf"
    w = gguf.GGUFWriter(path, "llama")
    w.add_tokenizer_model("llama")
    w.add_token_list([sp.id_to_piece(i) for i in range(sp.vocab_size())])
    w.add_token_scores([sp.get_score(i) for i in range(sp.vocab_size())])
    w.add_token_types(sp_types(sp))
    w.add_bos_token_id(sp.bos_id())
    w.add_eos_token_id(sp.eos_id())
    w.add_unk_token_id(sp.unk_id())
    w.add_add_space_prefix(True)
    w.add_remove_extra_whitespaces(True)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return sp, vocab_from_gguf(path)


def test_sentencepiece_encode_decode_match(tok512):
    sp, vocab = tok512
    strings = corpus([], seed=1)
    assert len(strings) >= 300
    for s in strings:
        ids = vocab.tokenizer.encode(s, add_special_tokens=False).ids
        assert ids == sp.encode(s), repr(s)
        assert vocab.tokenizer.decode(ids) == sp.decode(ids), repr(s)


def test_sentencepiece_facts_and_bos(tok512):
    sp, vocab = tok512
    assert vocab.model == "llama"
    assert (vocab.bos_id, vocab.eos_id, vocab.unk_id, vocab.pad_id) == (1, 2, 0, None)
    assert vocab.add_bos and not vocab.add_eos  # llama.cpp's default for SentencePiece vocabularies
    assert vocab.special_tokens == ["<unk>", "<s>", "</s>"]
    assert vocab.tokenizer.encode("Once upon a time").ids == [1] + sp.encode("Once upon a time")
    # control-token text maps to its id, and the dummy prefix comes back after it (llama.cpp does too)
    assert vocab.tokenizer.encode("<s>hi", add_special_tokens=False).ids == [1] + sp.encode("hi")
    assert vocab.tokenizer.get_vocab_size() == sp.vocab_size()
    copy = Tokenizer.from_str(vocab.tokenizer.to_str())  # serialisable, as recai.text's backend needs
    assert copy.encode(" Once  upon\ta time ").ids == vocab.tokenizer.encode(" Once  upon\ta time ").ids


# --- small synthetic byte-level vocabularies ----------------------------------------------------


def byte_level_alphabet() -> list[str]:
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    return list(bytes_to_unicode().values())


def write_bpe(path, pre=None, drop=(), extra=None):
    """A tiny byte-level BPE GGUF: the 256 byte symbols, digit merges, one control and one user token."""
    tokens = byte_level_alphabet() + ["12", "123", "45", "ab", "<|x|>", "<u>"]
    values = {
        "tokenizer.ggml.model": "gpt2",
        "tokenizer.ggml.tokens": tokens,
        "tokenizer.ggml.token_type": [1] * (len(tokens) - 2) + [3, 4],
        "tokenizer.ggml.merges": ["1 2", "12 3", "4 5"],
        "tokenizer.ggml.bos_token_id": len(tokens) - 2,
        **({"tokenizer.ggml.pre": pre} if pre else {}),
        **(extra or {}),
    }
    w = gguf.GGUFWriter(path, "llama")
    for key, value in values.items():
        if key in drop:
            continue
        if isinstance(value, str):
            w.add_string(key, value)
        elif isinstance(value, list):
            w.add_array(key, value)
        else:
            w.add_uint32(key, value)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


@pytest.mark.parametrize(
    "pre, pieces",
    [
        ("gpt2", ["123", "45"]),
        (None, ["123", "45"]),
        ("an-unknown-pre", ["123", "45"]),  # unknown names fall back to GPT-2's split
        ("smollm", list("12345")),
        ("qwen2", list("12345")),
        ("llama-bpe", ["123", "45"]),
    ],
)
def test_pre_tokenizer_follows_tokenizer_ggml_pre(tmp_path, pre, pieces):
    vocab = vocab_from_gguf(write_bpe(tmp_path / "bpe.gguf", pre))
    assert vocab.tokenizer.encode("12345", add_special_tokens=False).tokens == pieces
    ids = vocab.tokenizer.encode("a<|x|>b<u>", add_special_tokens=False).ids
    assert ids[1] == 256 + 4 and ids[3] == 256 + 5  # whole-token matches
    assert vocab.special_tokens == ["<|x|>", "<u>"]
    assert vocab.tokenizer.decode(ids, skip_special_tokens=True) == "ab<u>"  # user-defined is not special


def test_llama3_split_and_ignore_merges(tmp_path):
    tok = vocab_from_gguf(write_bpe(tmp_path / "bpe.gguf", "llama3")).tokenizer
    assert tok.encode("1234545", add_special_tokens=False).tokens == ["123", "45", "4", "5"]  # 123|454|5
    # llama.cpp takes a pre-token found whole in the vocabulary as is; "ab" has no merge rule
    assert tok.encode("ab", add_special_tokens=False).tokens == ["ab"]
    plain = vocab_from_gguf(write_bpe(tmp_path / "bpe2.gguf", "gpt2")).tokenizer
    assert plain.encode("ab", add_special_tokens=False).tokens == ["a", "b"]
    # Llama-3-style vocabularies get BOS by default in llama.cpp, others do not
    assert tok.encode("ab").tokens == ["<|x|>", "ab"] and plain.encode("ab").tokens == ["a", "b"]


@pytest.mark.parametrize(
    "drop, extra, what",
    [
        (("tokenizer.ggml.tokens",), None, "missing tokenizer metadata key 'tokenizer.ggml.tokens'"),
        (("tokenizer.ggml.model",), None, "missing tokenizer metadata key 'tokenizer.ggml.model'"),
        (("tokenizer.ggml.merges",), None, "missing tokenizer metadata key 'tokenizer.ggml.merges'"),
        ((), {"tokenizer.ggml.model": "rwkv"}, "tokenizer.ggml.model is 'rwkv'"),
        ((), {"tokenizer.ggml.merges": ["1 2", "9 z"]}, r"tokenizer.ggml.merges\[1\] = '9 z'"),
        ((), {"tokenizer.ggml.bos_token_id": 10**6}, "tokenizer.ggml.bos_token_id is 1000000"),
        ((), {"tokenizer.ggml.token_type": [1, 1]}, "token_type has 2 entries"),
        ((), {"tokenizer.ggml.model": "llama"}, "missing tokenizer metadata key 'tokenizer.ggml.scores'"),
        ((), {"tokenizer.ggml.pre": 5}, "tokenizer.ggml.pre is 5, expected a string"),
    ],
)
def test_bad_tokenizer_metadata_raises_naming_file_and_key(tmp_path, drop, extra, what):
    path = write_bpe(tmp_path / "broken_vocab.gguf", "gpt2", drop, extra)
    with pytest.raises(TokenizerError, match=what) as err:
        vocab_from_gguf(path)
    assert "broken_vocab.gguf" in str(err.value)
