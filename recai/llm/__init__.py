"""One interface to a chat language model, whether it runs here or behind an HTTP API.

Every backend has
    chat(messages, max_tokens=256, temperature=0.0, stop=(), constraint=None) -> str
    stream_chat(messages, ...) -> ChatStream   (iterate for text pieces; counts filled as it runs)
    complete(messages, ...) -> Completion      (the text plus token counts and finish reason)
    complete_many([messages, ...], ...) -> [Completion, ...]   (batched where the backend can)
`messages` are OpenAI-style dicts: {"role": "system" | "user" | "assistant", "content": str}.

Backends: `LocalLLM` (recai's own engine, tokenizer and chat template) and `OpenAIChat`
(`/v1/chat/completions` over requests: OpenAI, Azure OpenAI, vLLM, Ollama, llama.cpp's server,
`recai serve`). `load_llm(spec)` picks one from a model SPEC string.
"""
from __future__ import annotations

from recai.llm.base import ChatStream, Completion, Constraint, LLM, check_messages
from recai.llm.local import LocalLLM
from recai.llm.openai_http import OpenAIChat

__all__ = ["ChatStream", "Completion", "Constraint", "LLM", "LocalLLM", "OpenAIChat", "check_messages", "load_llm"]


def load_llm(spec: str, api_base: str | None = None, dtype: str = "float32", device: str | None = None,
             **kwargs) -> LLM:
    """A backend from a model SPEC.

    spec: `openai:MODEL` (with `api_base`, default $OPENAI_BASE_URL or https://api.openai.com/v1;
    key from $OPENAI_API_KEY), else anything `recai generate --model` accepts (a path, a
    registered name, hf:ORG/NAME), loaded into `LocalLLM`. kwargs go to the backend.
    """
    if spec.startswith("openai:"):
        model = spec[len("openai:"):]
        if not model:
            raise ValueError("openai: needs a model name, e.g. openai:gpt-4o-mini")
        return OpenAIChat(model, api_base=api_base, **kwargs)
    if api_base is not None:
        raise ValueError(f"--api-base is only for openai:MODEL specs, not for the local model {spec!r}")
    return LocalLLM.from_spec(spec, dtype=dtype, device=device, **kwargs)
