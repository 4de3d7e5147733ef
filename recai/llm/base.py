"""What every chat backend shares: the message check, the result types and the constraint hook."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator, Protocol, Sequence, runtime_checkable

from recai.text.chat import check_messages as _check_roles


@dataclass
class Completion:
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str = "stop"  # "stop" | "length"


class ChatStream:
    """An iterator of text pieces; once exhausted (or abandoned), `completion` holds the whole reply.

    Backends fill `prompt_tokens`, `completion_tokens` and `finish_reason` as they learn them.
    """

    def __init__(self, make_pieces: Callable[["ChatStream"], Iterator[str]]):
        # The backend's generator gets this stream, so it can fill in the counts as it learns them.
        self._pieces = make_pieces(self)
        self.text = ""
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.finish_reason = "stop"

    def __iter__(self):
        return self

    def __next__(self) -> str:
        piece = next(self._pieces)
        self.text += piece
        return piece

    def close(self) -> None:
        close = getattr(self._pieces, "close", None)
        if close is not None:
            close()

    @property
    def completion(self) -> Completion:
        return Completion(self.text, self.prompt_tokens, self.completion_tokens, self.finish_reason)


@runtime_checkable
class Constraint(Protocol):
    """Restricts what a model may write (e.g. a JSON plan naming only real tools).

    Local models call `processor(tokenizer, prompt_len)` once per request for a generation logits
    processor; remote backends send `json_schema()` (or None) as the API's structured-output format.
    """

    def processor(self, tokenizer, prompt_len: int): ...

    def json_schema(self) -> dict | None: ...


class LLM(Protocol):
    name: str

    def complete(self, messages: Sequence[dict], max_tokens: int = 256, temperature: float = 0.0,
                 stop: Sequence[str] = (), constraint: Constraint | None = None) -> Completion: ...

    def stream_chat(self, messages: Sequence[dict], max_tokens: int = 256, temperature: float = 0.0,
                    stop: Sequence[str] = (), constraint: Constraint | None = None) -> ChatStream: ...

    def chat(self, messages: Sequence[dict], max_tokens: int = 256, temperature: float = 0.0,
             stop: Sequence[str] = (), constraint: Constraint | None = None) -> str: ...

    def complete_many(self, conversations: Sequence[Sequence[dict]], max_tokens: int = 256,
                      temperature: float = 0.0, batch_size: int = 8) -> list[Completion]: ...


def check_messages(messages) -> list[dict]:
    """The messages as a list, or ValueError naming the first bad one (role, content type, empty list)."""
    messages = list(messages) if messages is not None else []
    if not messages:
        raise ValueError("messages is empty: send at least one {'role': 'user', 'content': ...}")
    _check_roles(messages)
    return messages


def check_sampling(max_tokens: int, temperature: float) -> None:
    if not isinstance(max_tokens, int) or max_tokens < 1:
        raise ValueError(f"max_tokens must be a positive integer, got {max_tokens!r}")
    if not isinstance(temperature, (int, float)) or not 0 <= temperature <= 2:
        raise ValueError(f"temperature must be between 0 and 2, got {temperature!r}")
