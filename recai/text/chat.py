"""Chat templates written by hand: ChatML, Llama-2 and Llama-3, without a jinja2 dependency.

Checkpoints ship their chat format as a jinja program. Rather than run arbitrary jinja, we
recognise which of the three common formats it implements (`detect_template`), render that format
in plain Python (`render_chat`), and can write back a jinja program that renders identically
(`to_jinja`) so that `transformers` users of a saved tokenizer get the same prompts we do.

Each renderer reproduces the reference jinja of its family character for character:
- chatml: SmolLM2 / Qwen style, optionally with a default system prompt when none is given;
- llama2: meta-llama/Llama-2-*-chat-hf (`<s>[INST] <<SYS>>...<</SYS>> ... [/INST] answer </s>`);
- llama3: meta-llama/Meta-Llama-3-*-Instruct (`<|start_header_id|>role<|end_header_id|>`).
"""
from __future__ import annotations

import json
import re
from typing import Iterable

TEMPLATES = ("chatml", "llama2", "llama3")
ROLES = ("system", "user", "assistant")


def check_messages(messages) -> None:
    """Raise ValueError naming the index and field of the first malformed message."""
    if not isinstance(messages, (list, tuple)):
        raise ValueError(f"messages must be a list of dicts, got {type(messages).__name__}")
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            raise ValueError(f"messages[{i}] must be a dict with 'role' and 'content', got {type(m).__name__}")
        if m.get("role") not in ROLES:
            raise ValueError(f"messages[{i}]['role'] must be one of {ROLES}, got {m.get('role')!r}")
        if not isinstance(m.get("content"), str):
            raise ValueError(f"messages[{i}]['content'] must be a string, got {type(m.get('content')).__name__}")


def render_chat(
    template: str,
    messages: list[dict],
    add_generation_prompt: bool = True,
    bos_token: str = "",
    eos_token: str = "",
    default_system: str | None = None,
) -> str:
    """Render a conversation as prompt text.

    template: one of TEMPLATES. bos_token / eos_token: the text of those tokens (llama2 and llama3
    write them into the prompt). default_system: chatml only, the system prompt inserted when the
    conversation does not open with one. Raises ValueError for malformed messages, an unknown
    template, or (llama2) roles that do not alternate user/assistant.
    """
    check_messages(messages)
    if template == "chatml":
        return _chatml(messages, add_generation_prompt, default_system)
    if template == "llama2":
        return _llama2(messages, bos_token, eos_token)
    if template == "llama3":
        return _llama3(messages, add_generation_prompt, bos_token)
    raise ValueError(f"unknown chat template {template!r}; known: {TEMPLATES}")


def _chatml(messages, add_generation_prompt: bool, default_system: str | None) -> str:
    out = []
    # Like SmolLM2's jinja: the default goes in only when there is a first message and it is not a system one.
    if default_system is not None and messages and messages[0]["role"] != "system":
        out.append(f"<|im_start|>system\n{default_system}<|im_end|>\n")
    out += [f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages]
    if add_generation_prompt:
        out.append("<|im_start|>assistant\n")
    return "".join(out)


def _llama2(messages, bos: str, eos: str) -> str:
    system = None
    if messages and messages[0]["role"] == "system":
        system, messages = messages[0]["content"], messages[1:]
    out = []
    for i, m in enumerate(messages):
        # The reference jinja raises on most breaks of this rule and silently drops a system
        # message at an odd position; we raise on all of them.
        if m["role"] != ("user" if i % 2 == 0 else "assistant"):
            index = i + (system is not None)
            raise ValueError(
                f"messages[{index}]['role'] is {m['role']!r}: llama2 chat needs a leading optional system "
                "message, then alternating user/assistant starting with user"
            )
        content = m["content"]
        if i == 0 and system is not None:
            content = f"<<SYS>>\n{system}\n<</SYS>>\n\n{content}"
        if m["role"] == "user":
            out.append(f"{bos}[INST] {content.strip()} [/INST]")
        else:
            out.append(f" {content.strip()} {eos}")
    # The reference template has no generation prompt: "[/INST]" already ends every user turn.
    return "".join(out)


def _llama3(messages, add_generation_prompt: bool, bos: str) -> str:
    out = [bos] if messages else []
    out += [f"<|start_header_id|>{m['role']}<|end_header_id|>\n\n{m['content'].strip()}<|eot_id|>" for m in messages]
    if add_generation_prompt:
        out.append("<|start_header_id|>assistant<|end_header_id|>\n\n")
    return "".join(out)


# The jinja programs below render exactly what the functions above do (tests check this with
# transformers). jinja's `trim` filter and str.strip() both strip Unicode whitespace.
_CHATML_JINJA = (
    "{% for message in messages %}"
    "{SYSTEM}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
_CHATML_DEFAULT_SYSTEM = "{% if loop.first and messages[0]['role'] != 'system' %}{{ TURN }}{% endif %}"
_LLAMA2_JINJA = (
    "{% if messages[0]['role'] == 'system' %}"
    "{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}"
    "{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}"
    "{% for message in loop_messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
    "{% endif %}"
    "{% if loop.index0 == 0 and system_message != false %}"
    "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
    "{% else %}{% set content = message['content'] %}{% endif %}"
    "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ ' ' + content.strip() + ' ' + eos_token }}{% endif %}"
    "{% endfor %}"
)
_LLAMA3_JINJA = (
    "{% for message in messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'"
    " + message['content'] | trim + '<|eot_id|>' %}"
    "{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}"
    "{{ content }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}"
)


def to_jinja(template: str, default_system: str | None = None) -> str:
    """A jinja chat template (as transformers runs it) that renders like `render_chat(template, ...)`."""
    if template == "chatml":
        system = ""
        if default_system is not None:
            # One literal for the whole turn, as SmolLM2 writes it, so default_system_prompt finds it.
            # json.dumps gives a quoted literal whose escapes (\n, \", \\) jinja reads back the same.
            literal = json.dumps(f"<|im_start|>system\n{default_system}<|im_end|>\n", ensure_ascii=False)
            system = _CHATML_DEFAULT_SYSTEM.replace("TURN", literal)
        return _CHATML_JINJA.replace("{SYSTEM}", system)
    if template == "llama2":
        return _LLAMA2_JINJA
    if template == "llama3":
        return _LLAMA3_JINJA
    raise ValueError(f"unknown chat template {template!r}; known: {TEMPLATES}")


def detect_template(jinja: str | None, tokens: Iterable[str] = ()) -> str | None:
    """Which of TEMPLATES a checkpoint's chat format is, or None when it is none of them.

    jinja: the checkpoint's own template text, the stronger evidence; when it is given but matches
    none of ours we answer None rather than guess. tokens: the special tokens of the vocabulary,
    used only when there is no jinja.
    """
    if jinja:
        if "<|start_header_id|>" in jinja and "<|eot_id|>" in jinja:
            # Llama-3.1+ always writes a dated system header ("Cutting Knowledge Date: ..."),
            # which our llama3 renderer does not; better no template than a silently different one.
            return None if "Cutting Knowledge Date" in jinja else "llama3"
        if "<|im_start|>" in jinja and "<|im_end|>" in jinja:
            return "chatml"
        if "[INST]" in jinja and "<<SYS>>" in jinja:
            return "llama2"
        return None
    tokens = set(tokens)
    if {"<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"} <= tokens:
        return "llama3"
    if {"<|im_start|>", "<|im_end|>"} <= tokens:
        return "chatml"
    return None


# A jinja string literal, single- or double-quoted, with backslash escapes.
_LITERAL = re.compile(r"'((?:[^'\\]|\\.)*)'|\"((?:[^\"\\]|\\.)*)\"", re.DOTALL)
_DEFAULT_SYSTEM = re.compile(r"<\|im_start\|>system\n(.*?)<\|im_end\|>", re.DOTALL)


def default_system_prompt(jinja: str | None) -> str | None:
    """The system prompt a ChatML jinja template writes when the conversation has none, if any.

    Found as one string literal holding a whole system turn, e.g. SmolLM2's
    '<|im_start|>system\\nYou are a helpful AI assistant named SmolLM, ...<|im_end|>\\n'. A system
    turn built from message content spans several literals and so is not mistaken for a default.
    """
    if not jinja:
        return None
    for m in _LITERAL.finditer(jinja):
        body = m.group(1) if m.group(1) is not None else m.group(2)
        found = _DEFAULT_SYSTEM.search(_unescape(body))
        if found:
            return found.group(1)
    return None


def _unescape(literal: str) -> str:
    # jinja's own rule for string literals: Python unicode escapes over the raw text.
    return literal.encode("ascii", "backslashreplace").decode("unicode-escape")
