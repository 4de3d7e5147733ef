"""Chat formats: our hand-written renderers against transformers running the checkpoints' own jinja
templates (SmolLM2's from its GGUF, Llama-2's, Llama-3's, Qwen1.5's), and save_pretrained round
trips: transformers' AutoTokenizer loading our saved directory encodes like us and its
apply_chat_template renders like our apply_chat."""
import importlib.util
import json

import pytest
import tokenizers
from tokenizers import decoders, models, normalizers, pre_tokenizers, trainers

from recai.text import Tokenizer, render_chat
from recai.text.chat import default_system_prompt, detect_template, to_jinja

transformers = pytest.importorskip("transformers")

# Upstream templates, verbatim from the checkpoints' tokenizer_config.json.
LLAMA2_JINJA = (  # meta-llama/Llama-2-7b-chat-hf
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
    "{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}"
    "{% set system_message = false %}{% endif %}{% for message in loop_messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must "
    "alternate user/assistant/user/assistant/...') }}{% endif %}{% if loop.index0 == 0 and system_message != false %}"
    "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}{% else %}"
    "{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}"
    "{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}"
)
LLAMA3_JINJA = (  # meta-llama/Meta-Llama-3-8B-Instruct
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + "
    "message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
    "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)
QWEN15_JINJA = (  # Qwen/Qwen1.5-*-Chat: a ChatML default system prompt written with jinja escapes
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{% endif %}{{'<|im_start|>' + "
    "message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
CHATML_JINJA = (  # plain ChatML, no default system prompt
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + "
    "'\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

SYSTEM = {"role": "system", "content": "You are terse. Answer in one line."}
CONVERSATIONS = [
    [{"role": "user", "content": "Hi!"}],
    [SYSTEM, {"role": "user", "content": "What is 2+2?"}],
    [
        {"role": "user", "content": "Recommend a film."},
        {"role": "assistant", "content": "  Try *Spirited Away* (2001).  "},
        {"role": "user", "content": "Something older?\n"},
    ],
    [
        SYSTEM,
        {"role": "user", "content": "  café ☕ and 日本語 😀  "},
        {"role": "assistant", "content": "\nSure.\n"},
        {"role": "user", "content": "Thanks\t"},
    ],
    [{"role": "user", "content": "Bye"}, {"role": "assistant", "content": "Goodbye!"}],
    [{"role": "system", "content": ""}, {"role": "user", "content": ""}],
]


def jinja_render(jinja: str, messages, add_generation_prompt: bool, bos: str = "<s>", eos: str = "</s>") -> str:
    """transformers' own rendering of a jinja chat template (its sandboxed jinja environment)."""
    vocab = tokenizers.Tokenizer(models.WordLevel({"<unk>": 0}, unk_token="<unk>"))
    tok = transformers.PreTrainedTokenizerFast(tokenizer_object=vocab, bos_token=bos, eos_token=eos)
    return tok.apply_chat_template(
        messages, chat_template=jinja, tokenize=False, add_generation_prompt=add_generation_prompt
    )


@pytest.fixture(scope="module")
def smollm2_jinja(smollm2_gguf) -> str:
    """SmolLM2's chat template as the reference GGUF reader (the gguf package) finds it."""
    gguf = pytest.importorskip("gguf")
    return gguf.GGUFReader(smollm2_gguf).fields["tokenizer.chat_template"].contents()


# ---- renderers against the upstream jinja -------------------------------------------------------

UPSTREAM = {
    "llama2": (LLAMA2_JINJA, None),
    "llama3": (LLAMA3_JINJA, None),
    "qwen1.5": (QWEN15_JINJA, "You are a helpful assistant."),
    "chatml": (CHATML_JINJA, None),
}


@pytest.mark.parametrize("name", sorted(UPSTREAM))
@pytest.mark.parametrize("add_generation_prompt", [True, False])
def test_renderer_matches_upstream_jinja(name, add_generation_prompt):
    jinja, default = UPSTREAM[name]
    template = detect_template(jinja)
    assert template == {"qwen1.5": "chatml"}.get(name, name)
    assert default_system_prompt(jinja) == default
    bos, eos = ("<|begin_of_text|>", "<|eot_id|>") if template == "llama3" else ("<s>", "</s>")
    for messages in CONVERSATIONS:
        want = jinja_render(jinja, messages, add_generation_prompt, bos, eos)
        got = render_chat(
            template, messages, add_generation_prompt, bos_token=bos, eos_token=eos, default_system=default
        )
        assert got == want, messages


@pytest.mark.parametrize("add_generation_prompt", [True, False])
def test_smollm2_template_from_gguf(smollm2_jinja, add_generation_prompt):
    jinja = smollm2_jinja
    assert detect_template(jinja) == "chatml"
    default = default_system_prompt(jinja)
    assert default == "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
    for messages in CONVERSATIONS:
        want = jinja_render(jinja, messages, add_generation_prompt, "<|im_start|>", "<|im_end|>")
        assert render_chat("chatml", messages, add_generation_prompt, default_system=default) == want, messages


@pytest.fixture(scope="module")
def smol(smollm2_gguf) -> Tokenizer:
    if importlib.util.find_spec("recai.text.gguf_vocab") is None:
        pytest.skip("recai.text.gguf_vocab (vocab_from_gguf) is not written yet")
    return Tokenizer.from_pretrained(smollm2_gguf)


def test_smollm2_tokenizer_apply_chat(smol, smollm2_jinja):
    tok, jinja = smol, smollm2_jinja
    assert tok.chat_template_jinja == jinja
    for messages in CONVERSATIONS:
        for add in (True, False):
            assert tok.apply_chat(messages, add) == jinja_render(jinja, messages, add, "<|im_start|>", "<|im_end|>")
    ids = tok.encode_chat([{"role": "user", "content": "Hi"}])
    assert ids[:3] == [tok.token_to_id("<|im_start|>"), tok.token_to_id("system"), tok.token_to_id("\u010a")]


TRICKY_DEFAULT = "You are \"Rec\", a helper.\nBe kind: don't\\guess — ünïcode 😀 {{ not jinja }} {% raw %}"


@pytest.mark.parametrize(
    "template, default", [("chatml", None), ("chatml", TRICKY_DEFAULT), ("llama2", None), ("llama3", None)]
)
def test_to_jinja_renders_like_us(template, default):
    jinja = to_jinja(template, default)
    assert detect_template(jinja) == template
    assert default_system_prompt(jinja) == default
    for messages in CONVERSATIONS:
        for add in (True, False):
            want = jinja_render(jinja, messages, add)
            got = render_chat(template, messages, add, bos_token="<s>", eos_token="</s>", default_system=default)
            assert got == want


def test_llama2_needs_alternating_roles():
    bad = [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]
    with pytest.raises(Exception, match="alternate"):
        jinja_render(LLAMA2_JINJA, bad, True)
    with pytest.raises(ValueError, match=r"messages\[1\]\['role'\]"):
        render_chat("llama2", bad)
    with pytest.raises(ValueError, match=r"messages\[2\]\['role'\]"):
        render_chat("llama2", [SYSTEM, {"role": "user", "content": "a"}, SYSTEM])


@pytest.mark.parametrize(
    "messages, match",
    [
        ("hello", "list of dicts"),
        ([{"role": "user", "content": "ok"}, "hi"], r"messages\[1\] must be a dict"),
        ([{"role": "tool", "content": "x"}], r"messages\[0\]\['role'\].*'tool'"),
        ([{"content": "x"}], r"messages\[0\]\['role'\].*None"),
        ([{"role": "user", "content": "ok"}, {"role": "user", "content": ["a"]}], r"messages\[1\]\['content'\].*list"),
        ([{"role": "user"}], r"messages\[0\]\['content'\]"),
    ],
)
def test_bad_messages_name_index_and_field(messages, match):
    with pytest.raises(ValueError, match=match):
        render_chat("chatml", messages)


def test_unknown_template_name():
    with pytest.raises(ValueError, match="unknown chat template 'zephyr'"):
        render_chat("zephyr", [{"role": "user", "content": "x"}])


def test_detect_template():
    assert detect_template(None, ["<|im_start|>", "<|im_end|>"]) == "chatml"
    assert detect_template(None, ["<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]) == "llama3"
    assert detect_template(None, ["<s>", "</s>"]) is None
    mistral = "{{ bos_token }}{% for m in messages %}{{ '[INST] ' + m['content'] + ' [/INST]' }}{% endfor %}"
    assert detect_template(mistral, ["<|im_start|>", "<|im_end|>"]) is None  # a jinja we do not know wins over tokens
    llama31 = LLAMA3_JINJA.replace("{% set loop_messages", "{{ 'Cutting Knowledge Date: December 2023' }}{% set loop_messages")
    assert detect_template(llama31) is None
    # A system turn built from message content is not a default prompt.
    assert default_system_prompt("{{ '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}") is None


# ---- save_pretrained round trips through transformers --------------------------------------------

TRAIN_TEXT = [
    "The quick brown fox jumps over the lazy dog. Recommend me a film, please!",
    "Try Spirited Away (2001) or My Neighbor Totoro; both are by Studio Ghibli.",
    "café naïve façade Straße 日本語のテキスト 中文 한국어 😀 👍🏽 def f(x): return x ** 2",
    "You are terse. Answer in one line. What is 2+2? Thanks, goodbye, something older?",
] * 20

FAMILIES = {
    # name: (tokenizer style, special tokens, bos, eos, BOS in tokenizer.json's post-processor, jinja)
    "chatml": ("bytelevel", ["<|endoftext|>", "<|im_start|>", "<|im_end|>"], None, "<|im_end|>", False, CHATML_JINJA),
    "qwen1.5": ("bytelevel", ["<|endoftext|>", "<|im_start|>", "<|im_end|>"], None, "<|im_end|>", False, QWEN15_JINJA),
    "llama2": ("sentencepiece", ["<unk>", "<s>", "</s>"], "<s>", "</s>", True, LLAMA2_JINJA),
    "llama3": (
        "bytelevel",
        ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"],
        "<|begin_of_text|>",
        "<|eot_id|>",
        True,
        LLAMA3_JINJA,
    ),
}


def make_checkpoint(directory, family: str):
    """A small tokenizer.json checkpoint in the style of a family: byte-level BPE (GPT-2, Llama-3,
    Qwen) or sentencepiece-like BPE with byte fallback (Llama-2's tokenizer.json)."""
    style, specials, bos, eos, bos_in_post, jinja = FAMILIES[family]
    if style == "bytelevel":
        tok = tokenizers.Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        alphabet, extra = pre_tokenizers.ByteLevel.alphabet(), []
    else:
        tok = tokenizers.Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
        tok.normalizer = normalizers.Sequence([normalizers.Prepend("\u2581"), normalizers.Replace(" ", "\u2581")])
        tok.decoder = decoders.Sequence(
            [decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse(), decoders.Strip(" ", 1, 0)]
        )
        alphabet, extra = [], [f"<0x{b:02X}>" for b in range(256)]
    trainer = trainers.BpeTrainer(
        vocab_size=700, special_tokens=specials + extra, initial_alphabet=alphabet, show_progress=False
    )
    tok.train_from_iterator(TRAIN_TEXT, trainer)
    data = json.loads(tok.to_str())
    # Byte pieces belong to the model's vocabulary (for byte fallback), not to the added tokens.
    data["added_tokens"] = [t for t in data["added_tokens"] if t["content"] in specials]
    if bos_in_post:
        bos_id = data["model"]["vocab"][bos]
        data["post_processor"] = {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": bos, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": bos, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": bos, "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {bos: {"id": bos, "ids": [bos_id], "tokens": [bos]}},
        }
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "tokenizer.json").write_text(json.dumps(data))
    config = {"tokenizer_class": "PreTrainedTokenizerFast", "eos_token": eos, "chat_template": jinja}
    if bos:
        config["bos_token"] = bos
    if family == "llama2":
        config.update(unk_token="<unk>", add_bos_token=True)  # Llama-2 says so; Llama-3 leaves it to the post-processor
    (directory / "tokenizer_config.json").write_text(json.dumps(config))
    return directory


SAMPLES = [
    "Hello world", "  two  spaces ", "line\nbreak\ttab", "café 日本語 😀 👨‍👩‍👧", "x = f(12345) ** 2", "",
    "<|im_start|>user\nhi<|im_end|>", "<s>[INST] hi [/INST]",
    "<|begin_of_text|><|start_header_id|>user<|end_header_id|>",
]


def assert_same_as_transformers(ours: Tokenizer, ref, check_chat: bool = True):
    for text in SAMPLES:
        ids = ref.encode(text)
        assert ours.encode(text) == ids, text
        assert ours.decode(ids) == ref.decode(ids), text
        assert ours.decode(ids, skip_special=True) == ref.decode(ids, skip_special_tokens=True), text
    if check_chat:
        for messages in CONVERSATIONS:
            for add in (True, False):
                want = ref.apply_chat_template(messages, tokenize=False, add_generation_prompt=add)
                assert ours.apply_chat(messages, add) == want, messages


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_checkpoint_and_save_round_trip(tmp_path, family):
    source = make_checkpoint(tmp_path / "source", family)
    ours = Tokenizer.from_pretrained(source)
    assert ours.chat_template == {"qwen1.5": "chatml"}.get(family, family)
    assert ours.add_bos == FAMILIES[family][4]
    assert ours.eos_id in ours.stop_ids
    # Loading: same ids and same prompts as transformers on the checkpoint as shipped.
    assert_same_as_transformers(ours, transformers.AutoTokenizer.from_pretrained(source))

    ours.save_pretrained(tmp_path / "saved")
    # Saving: transformers loads what we wrote as the same tokenizer, with a jinja rendering like ours.
    assert_same_as_transformers(ours, transformers.AutoTokenizer.from_pretrained(tmp_path / "saved"))
    again = Tokenizer.from_pretrained(tmp_path / "saved")
    attrs = ("vocab_size", "bos_id", "eos_id", "pad_id", "unk_id", "add_bos", "add_eos", "stop_ids", "chat_template")
    for attr in (*attrs, "default_system"):
        assert getattr(again, attr) == getattr(ours, attr), attr


def test_flipped_add_bos_is_saved_for_transformers(tmp_path):
    ours = Tokenizer.from_pretrained(make_checkpoint(tmp_path / "source", "llama3"))
    ours.add_bos = False  # e.g. a fine-tune that never wants BOS
    ours.save_pretrained(tmp_path / "saved")
    ref = transformers.AutoTokenizer.from_pretrained(tmp_path / "saved")
    assert ref.encode("Hello") == ours.encode("Hello") and ours.encode("Hello")[0] != ours.bos_id


def test_encode_chat_has_one_bos(tmp_path):
    tok = Tokenizer.from_pretrained(make_checkpoint(tmp_path, "llama3"))
    ids = tok.encode_chat(CONVERSATIONS[1])
    assert ids[0] == tok.bos_id and ids.count(tok.bos_id) == 1
    assert tok.decode(ids) == tok.apply_chat(CONVERSATIONS[1])


def test_smollm2_save_round_trip(smol, tmp_path):
    ours = smol
    ours.save_pretrained(tmp_path)
    ref = transformers.AutoTokenizer.from_pretrained(tmp_path)
    assert_same_as_transformers(ours, ref)
    assert (ref.bos_token, ref.eos_token, ref.pad_token) == ("<|im_start|>", "<|im_end|>", "<|im_end|>")
    assert Tokenizer.from_pretrained(tmp_path).default_system == ours.default_system
