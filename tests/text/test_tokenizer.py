"""Tokenizer parity with the references: transformers' tokenizer for SmolLM2's GGUF vocabulary,
sentencepiece itself for tok512; the sentencepiece save round trip; errors on bad input.
(Chat formats and the tokenizer.json save round trips through transformers are in test_chat.py.)"""
import importlib.util
import json
import random

import pytest
import sentencepiece

from recai.errors import TokenizerError
from recai.text import Tokenizer

TOK512 = "tests/fixtures/stories260K/tok512.model"

# Fragments chosen to hit every pre-tokenizer branch: letters, digit runs, punctuation, whitespace
# runs, byte-fallback characters, multi-codepoint graphemes and the text of special tokens.
FRAGMENTS = [
    "Hello world", "the quick brown fox", "Don't", "I'M", "we'll", "they're", "it's", "CamelCaseWord",
    "café", "naïve", "Ünïcödé", "Straße", "façade", "e\u0301", "Ångström", "ñandú",
    "日本語のテキスト", "中文分词测试", "한국어 문장", "ひらがな", "Привет мир", "مرحبا", "שלום", "ελληνικά", "हिन्दी",
    "😀", "👍🏽", "🇫🇷", "👨‍👩‍👧‍👦", "🏳️‍🌈", "👩🏽‍💻", "❤️", "🤖🚀✨",
    " ", "   ", "\t", "\t\t", "\n", "\n\n\n", " \n ", "\r\n", "\u00a0", "\u3000", "\u200b",
    "0", "7", "42", "12345", "3.14159", "1,000,000", "2024-01-01", "0x1F", "1e-9", "123456789012",
    "def f(x):\n    return x**2", "for (int i = 0; i < n; ++i) {}", '<div class="a">', "SELECT * FROM t;",
    "a_b-c.d/e\\f", "#include <stdio.h>", "$x = @y % 3;", "!!!???", "...", "--", "``", "~^|",
    "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<s>", "</s>", "<unk>", "<|im_start|>user\nhi<|im_end|>",
]


def corpus(n: int = 300, seed: int = 0) -> list[str]:
    """Every fragment alone, then n deterministic mixes of one to five fragments."""
    rng = random.Random(seed)
    seps = ["", " ", "  ", "\n", "\t", ", "]
    mixes = []
    for _ in range(n):
        parts = rng.choices(FRAGMENTS, k=rng.randint(1, 5))
        text = parts[0]
        for p in parts[1:]:
            text += rng.choice(seps) + p
        mixes.append(text)
    return [*FRAGMENTS, "", *mixes]


def requires_gguf_vocab():
    if importlib.util.find_spec("recai.text.gguf_vocab") is None:
        pytest.skip("recai.text.gguf_vocab (vocab_from_gguf) is not written yet")


# ---- SmolLM2 (GGUF, byte-level BPE) against transformers -----------------------------------------


@pytest.fixture(scope="module")
def smol(smollm2_gguf):
    requires_gguf_vocab()
    return Tokenizer.from_pretrained(smollm2_gguf)


@pytest.fixture(scope="module")
def smol_ref(smollm2_gguf):
    transformers = pytest.importorskip("transformers")
    from tokenizers import pre_tokenizers

    # Slow (~10 s): transformers rebuilds the BPE from the GGUF metadata in Python.
    ref = transformers.AutoTokenizer.from_pretrained(smollm2_gguf.parent, gguf_file=smollm2_gguf.name)
    # transformers' GGUF converter ignores tokenizer.ggml.pre ("smollm") and splits text with plain
    # GPT-2 rules. SmolLM2's own tokenizer.json, and llama.cpp for pre "smollm", first split every
    # digit alone; put that step back so the reference is the real SmolLM2 tokenizer.
    assert ref.backend_tokenizer.pre_tokenizer.__class__.__name__ == "ByteLevel"
    ref.backend_tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    return ref


def test_smollm2_metadata(smol, smol_ref):
    assert smol.vocab_size == len(smol_ref) == 49152
    assert (smol.bos_id, smol.eos_id, smol.pad_id) == (
        smol_ref.bos_token_id, smol_ref.eos_token_id, smol_ref.pad_token_id
    )
    assert smol.add_bos is False  # tokenizer.ggml.add_bos_token is false in this file
    assert smol.token_to_id("<|im_end|>") in smol.stop_ids
    assert smol.chat_template == "chatml"


def test_smollm2_encode_decode_match_transformers(smol, smol_ref):
    for text in corpus():
        want = smol_ref.encode(text)
        assert smol.encode(text) == want, text
        assert smol.decode(want) == smol_ref.decode(want), text
        assert smol.decode(want, skip_special=True) == smol_ref.decode(want, skip_special_tokens=True), text


def test_smollm2_special_false_matches_split_special_tokens(smol, smol_ref):
    for text in [t for t in corpus(100) if "<" in t] + ["<|im_start|>system\nx<|im_end|>"]:
        want = smol_ref.encode(text, split_special_tokens=True)
        got = smol.encode(text, special=False)
        assert got == want, text
        assert not set(got) & set(smol.special_tokens.values())
        assert smol.decode(got) == text


def test_smollm2_splits_every_digit(smol):
    # SmolLM2 (StarCoder-style pre-tokenizer) never merges digits: one token per digit.
    ids = smol.encode("year 2024: 123456789")
    digits = [smol.decode([i]) for i in ids if smol.decode([i]).strip().isdigit()]
    assert digits == list("2024123456789")


def test_smollm2_special_text_maps_to_ids(smol):
    ids = smol.encode("<|im_start|>user\nhi<|im_end|>")
    assert ids[0] == smol.token_to_id("<|im_start|>") and ids[-1] == smol.token_to_id("<|im_end|>")
    assert smol.encode("hi", add_bos=True)[0] == smol.bos_id
    assert smol.encode("hi", add_eos=True)[-1] == smol.eos_id


# ---- tok512 (sentencepiece BPE with byte fallback) against sentencepiece -------------------------


@pytest.fixture(scope="module")
def tok512():
    return Tokenizer.from_pretrained(TOK512)


@pytest.fixture(scope="module")
def sp512():
    return sentencepiece.SentencePieceProcessor(model_file=TOK512)


def test_tok512_metadata(tok512, sp512):
    assert tok512.vocab_size == sp512.get_piece_size() == 512
    assert (tok512.bos_id, tok512.eos_id, tok512.unk_id, tok512.pad_id) == (1, 2, 0, None)
    assert tok512.add_bos is True  # the Llama-2 convention for sentencepiece checkpoints
    assert tok512.stop_ids == {2}
    assert tok512.chat_template is None


def test_tok512_encode_decode_match_sentencepiece(tok512, sp512):
    for text in corpus():
        want = sp512.encode(text)
        # special=False: special-token text is plain text, exactly as sentencepiece sees it.
        assert tok512.encode(text, special=False) == [1, *want], text
        assert tok512.encode(text, add_bos=False, special=False) == want, text
        assert tok512.decode(want) == sp512.decode(want), text
        assert tok512.decode([1, *want, 2], skip_special=True) == sp512.decode([1, *want, 2]), text
        if not any(s in text for s in ("<s>", "</s>", "<unk>")):
            assert tok512.encode(text) == [1, *want], text


def test_tok512_special_text(tok512, sp512):
    # Each piece of text between special tokens is encoded on its own, as Meta's Llama-2 chat code does.
    assert tok512.encode("<s>Hi there</s>", add_bos=False) == [1, *sp512.encode("Hi there"), 2]
    assert tok512.encode("a</s><s>b", add_bos=False) == [*sp512.encode("a"), 2, 1, *sp512.encode("b")]
    ids = tok512.encode("<s>Hi</s> yes")
    assert tok512.decode(ids) == "<s><s> Hi</s> yes"  # as transformers' Llama tokenizers decode
    assert tok512.decode(ids, skip_special=True) == sp512.decode(ids) == "Hi yes"


def test_tok512_save_round_trip(tok512, tmp_path):
    tok512.save_pretrained(tmp_path)
    assert (tmp_path / "tokenizer.model").read_bytes() == open(TOK512, "rb").read()
    again = Tokenizer.from_pretrained(tmp_path)
    attrs = ("vocab_size", "bos_id", "eos_id", "pad_id", "unk_id", "add_bos", "add_eos", "stop_ids", "chat_template")
    for attr in attrs:
        assert getattr(again, attr) == getattr(tok512, attr), attr
    for text in corpus(50):
        assert again.encode(text) == tok512.encode(text)


def test_tok512_save_loads_in_transformers(tok512, tmp_path):
    # transformers reads tokenizer.model through protobuf (in the test extras); skip where it is absent.
    pytest.importorskip("google.protobuf", reason="transformers needs protobuf to read a sentencepiece model")
    transformers = pytest.importorskip("transformers")
    tok512.save_pretrained(tmp_path)
    ref = transformers.AutoTokenizer.from_pretrained(tmp_path)
    # transformers' sentencepiece converter leaves out tok512's remove_extra_whitespaces
    # normalisation, so compare on text that normalisation leaves alone.
    for text in [t for t in corpus(100) if "<" not in t and " ".join(t.split()) == t]:
        ids = tok512.encode(text)
        assert ref.encode(text) == ids, text
        assert ref.decode(ids) == tok512.decode(ids), text
        assert ref.decode(ids, skip_special_tokens=True) == tok512.decode(ids, skip_special=True), text


def test_encode_accepts_only_text_and_decode_checks_ids(tok512):
    with pytest.raises(TypeError):
        tok512.encode(b"bytes")
    with pytest.raises(ValueError, match="512"):
        tok512.decode([5, 512])
    with pytest.raises(ValueError, match="-1"):
        tok512.decode([-1])
    assert tok512.decode([]) == ""
    numpy = pytest.importorskip("numpy")
    assert tok512.decode(numpy.array([346, 306])) == tok512.decode([346, 306])


# ---- loading: what is looked for, and errors that name the file ---------------------------------


def test_directory_with_tok_model_loads(tmp_path):
    (tmp_path / "tok512.model").write_bytes(open(TOK512, "rb").read())
    assert Tokenizer.from_pretrained(tmp_path).vocab_size == 512


def test_directory_metadata_files(tmp_path):
    (tmp_path / "tokenizer.model").write_bytes(open(TOK512, "rb").read())
    special_map = {"pad_token": {"content": "<unk>", "special": True}, "eos_token": "<s>"}
    (tmp_path / "special_tokens_map.json").write_text(json.dumps(special_map))
    config = {"eos_token": "</s>", "add_bos_token": False, "chat_template": "ignored"}
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(config))
    (tmp_path / "generation_config.json").write_text('{"eos_token_id": [2, 7]}')
    chatml = "{% for m in messages %}<|im_start|>{{ m['content'] }}<|im_end|>{% endfor %}"
    (tmp_path / "chat_template.jinja").write_text(chatml)
    tok = Tokenizer.from_pretrained(tmp_path)
    assert tok.pad_id == 0  # from special_tokens_map.json, as an AddedToken dict
    assert tok.eos_id == 2  # tokenizer_config.json wins over special_tokens_map.json
    assert tok.add_bos is False and tok.encode("hi")[0] != 1
    assert tok.stop_ids == {2, 7}  # generation_config.json's EOS list
    assert tok.chat_template == "chatml"  # chat_template.jinja wins over the config's entry


def test_gguf_in_a_directory_and_as_parsed_file(smollm2_gguf, tmp_path):
    requires_gguf_vocab()
    from recai.nn.gguf import read_gguf

    (tmp_path / "model.gguf").symlink_to(smollm2_gguf)
    by_dir = Tokenizer.from_pretrained(tmp_path)
    parsed = Tokenizer.from_gguf(read_gguf(smollm2_gguf))
    assert parsed.source == str(smollm2_gguf)
    for tok in (by_dir, parsed):
        assert tok.vocab_size == 49152 and tok.encode("Hello world") == [19556, 905]


def test_empty_directory_names_the_directory(tmp_path):
    with pytest.raises(TokenizerError, match="no tokenizer found") as e:
        Tokenizer.from_pretrained(tmp_path)
    assert str(tmp_path) in str(e.value) and "tokenizer.json" in str(e.value)


def test_missing_path_names_the_path(tmp_path):
    with pytest.raises(TokenizerError, match="no such file") as e:
        Tokenizer.from_pretrained(tmp_path / "nothing.model")
    assert str(tmp_path / "nothing.model") in str(e.value)


def test_corrupt_sentencepiece_model_names_the_file(tmp_path):
    bad = tmp_path / "tokenizer.model"
    bad.write_bytes(b"\x00\x01 definitely not a protobuf" * 10)
    with pytest.raises(TokenizerError, match="sentencepiece") as e:
        Tokenizer.from_pretrained(tmp_path)
    assert str(bad) in str(e.value)


@pytest.mark.parametrize("content", ["{not json", '{"version": "1.0", "model": {"type": "Nope"}}', "[1, 2]"])
def test_corrupt_tokenizer_json_names_the_file(tmp_path, content):
    bad = tmp_path / "tokenizer.json"
    bad.write_text(content)
    with pytest.raises(TokenizerError) as e:
        Tokenizer.from_pretrained(bad)
    assert str(bad) in str(e.value)


def test_corrupt_tokenizer_config_names_the_file(tmp_path):
    (tmp_path / "tokenizer.model").write_bytes(open(TOK512, "rb").read())
    (tmp_path / "tokenizer_config.json").write_text('{"bos_token": ')
    with pytest.raises(TokenizerError, match="tokenizer_config.json"):
        Tokenizer.from_pretrained(tmp_path)


def test_config_naming_an_unknown_token_is_an_error(tmp_path):
    (tmp_path / "tokenizer.model").write_bytes(open(TOK512, "rb").read())
    (tmp_path / "tokenizer_config.json").write_text('{"eos_token": "<|nope|>"}')
    with pytest.raises(TokenizerError, match=r"eos_token '<\|nope\|>'") as e:
        Tokenizer.from_pretrained(tmp_path)
    assert "tokenizer_config.json" in str(e.value)


def test_unknown_file_type(tmp_path):
    f = tmp_path / "vocab.txt"
    f.write_text("a\nb\n")
    with pytest.raises(TokenizerError, match="vocab.txt"):
        Tokenizer.from_pretrained(f)


def test_apply_chat_without_template_is_an_error(tok512):
    with pytest.raises(TokenizerError, match="no chat template"):
        tok512.apply_chat([{"role": "user", "content": "hi"}])
