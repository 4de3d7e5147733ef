"""`OpenAIChat`: any server that speaks OpenAI's `/v1/chat/completions`, through requests.

Works with OpenAI, Azure OpenAI (pass `api_version`; the key goes in the `api-key` header and
`api_base` is the deployment URL), vLLM, Ollama, llama.cpp's server and `recai serve`.
Transient failures (connection errors, timeouts, HTTP 429 and 5xx) are retried with exponential
backoff, honouring Retry-After; authentication failures and other 4xx fail at once with the
server's message. The API key is read from the environment by default and never appears in an
error message or repr.
"""
from __future__ import annotations

import json
import os
import time
from typing import Iterator, Sequence

from recai.errors import LLMError
from recai.llm.base import ChatStream, Completion, Constraint, check_messages, check_sampling

RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}
DEFAULT_BASE = "https://api.openai.com/v1"


class OpenAIChat:
    """A remote chat model.

    model: the server's model (or Azure deployment) name. api_base: up to and including `/v1`
    (default $OPENAI_BASE_URL, else OpenAI's). api_key: default $OPENAI_API_KEY; servers that need
    none (vLLM, Ollama, recai serve) work without it. timeout_s: per attempt (connect and each
    read). max_retries: extra attempts after a transient failure; backoff_s doubles each time.
    """

    def __init__(self, model: str, api_base: str | None = None, api_key: str | None = None,
                 api_version: str | None = None, timeout_s: float = 60.0, max_retries: int = 3,
                 backoff_s: float = 0.5, session=None):
        import requests

        self.model = model
        self.name = f"openai:{model}"
        self.api_base = (api_base or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE).rstrip("/")
        self._key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        self.api_version = api_version
        self.timeout_s, self.max_retries, self.backoff_s = timeout_s, max_retries, backoff_s
        self._session = session or requests.Session()

    def __repr__(self) -> str:  # never shows the key
        return f"OpenAIChat(model={self.model!r}, api_base={self.api_base!r})"

    # ---- the three calls ---------------------------------------------------------------------
    def complete(self, messages: Sequence[dict], max_tokens: int = 256, temperature: float = 0.0,
                 stop: Sequence[str] = (), constraint: Constraint | None = None) -> Completion:
        body = self._body(messages, max_tokens, temperature, stop, constraint, stream=False)
        reply = self._post(body, stream=False)
        try:
            data = reply.json()
            choice = data["choices"][0]
            text = choice["message"].get("content") or ""
            usage = data.get("usage") or {}
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            raise LLMError(f"{self._url()}: the reply is not a chat completion: {_snippet(reply.text)}") from None
        return Completion(text, int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0)),
                          choice.get("finish_reason") or "stop")

    def stream_chat(self, messages: Sequence[dict], max_tokens: int = 256, temperature: float = 0.0,
                    stop: Sequence[str] = (), constraint: Constraint | None = None) -> ChatStream:
        body = self._body(messages, max_tokens, temperature, stop, constraint, stream=True)
        reply = self._post(body, stream=True)
        return ChatStream(lambda stream: self._pieces(reply, stream))

    def chat(self, messages: Sequence[dict], max_tokens: int = 256, temperature: float = 0.0,
             stop: Sequence[str] = (), constraint: Constraint | None = None) -> str:
        return self.complete(messages, max_tokens, temperature, stop, constraint).text

    # ---- HTTP --------------------------------------------------------------------------------
    def complete_many(self, conversations: Sequence[Sequence[dict]], max_tokens: int = 256,
                      temperature: float = 0.0, batch_size: int = 8) -> list[Completion]:
        """One completion per conversation, requested in order (batch_size is accepted for the
        same call shape as `LocalLLM.complete_many`; the server batches on its side)."""
        return [self.complete(m, max_tokens, temperature) for m in conversations]

    def _url(self) -> str:
        return f"{self.api_base}/chat/completions"

    def _headers(self) -> dict:
        headers = {"Content-Type": "application/json"}
        if self._key:
            headers["api-key" if self.api_version else "Authorization"] = (
                self._key if self.api_version else f"Bearer {self._key}")
        return headers

    def _body(self, messages, max_tokens, temperature, stop, constraint, stream: bool) -> dict:
        check_sampling(max_tokens, temperature)
        body = {"model": self.model, "messages": check_messages(messages), "max_tokens": max_tokens,
                "temperature": float(temperature), "stream": stream}
        if stop:
            body["stop"] = list(stop)
        schema = constraint.json_schema() if constraint is not None else None
        if schema is not None:
            body["response_format"] = {"type": "json_schema", "json_schema": {"name": "plan", "schema": schema}}
        if stream:
            body["stream_options"] = {"include_usage": True}
        return body

    def _post(self, body: dict, stream: bool):
        """POST with retries; returns a 200 response or raises LLMError saying what to do."""
        import requests

        params = {"api-version": self.api_version} if self.api_version else None
        for attempt in range(self.max_retries + 1):
            last = attempt == self.max_retries
            try:
                reply = self._session.post(self._url(), json=body, headers=self._headers(), params=params,
                                           timeout=self.timeout_s, stream=stream)
            except requests.Timeout:
                if last:
                    raise LLMError(f"{self._url()}: no reply within {self.timeout_s:g} s "
                                   f"({attempt + 1} attempts); is the server overloaded?") from None
                self._sleep(attempt, None)
                continue
            except requests.ConnectionError as e:
                if last:
                    raise LLMError(f"{self._url()}: cannot connect ({type(e).__name__}); "
                                   "check --api-base and that the server is running") from None
                self._sleep(attempt, None)
                continue
            if reply.status_code == 200:
                return reply
            if reply.status_code in (401, 403):
                raise LLMError(f"{self._url()}: authentication failed (HTTP {reply.status_code}); check "
                               f"OPENAI_API_KEY: {_server_message(reply)}")
            if reply.status_code in RETRY_STATUS and not last:
                self._sleep(attempt, reply.headers.get("Retry-After"))
                reply.close()
                continue
            raise LLMError(f"{self._url()}: HTTP {reply.status_code}: {_server_message(reply)}")
        raise AssertionError("unreachable")

    def _sleep(self, attempt: int, retry_after: str | None) -> None:
        delay = self.backoff_s * 2 ** attempt
        if retry_after:
            try:
                delay = max(delay, min(float(retry_after), 30.0))  # a server may ask for longer, within reason
            except ValueError:
                pass
        time.sleep(delay)

    def _pieces(self, reply, out: ChatStream) -> Iterator[str]:
        """Text deltas of a server-sent-event stream, until `data: [DONE]`."""
        import requests

        try:
            for data in _sse_data(reply.iter_lines(decode_unicode=False)):
                if data == "[DONE]":
                    return
                try:
                    event = json.loads(data)
                except ValueError:
                    raise LLMError(f"{self._url()}: malformed stream event: {_snippet(data)}") from None
                if "error" in event:
                    raise LLMError(f"{self._url()}: the server failed mid-stream: {event['error']}")
                usage = event.get("usage") or {}
                if usage:
                    out.prompt_tokens = int(usage.get("prompt_tokens", 0))
                    out.completion_tokens = int(usage.get("completion_tokens", 0))
                for choice in event.get("choices") or ():
                    if choice.get("finish_reason"):
                        out.finish_reason = choice["finish_reason"]
                    piece = (choice.get("delta") or {}).get("content")
                    if piece:
                        yield piece
        except requests.RequestException as e:
            raise LLMError(f"{self._url()}: the stream broke off ({type(e).__name__})") from None
        finally:
            reply.close()


def _sse_data(lines) -> Iterator[str]:
    """The `data:` payloads of a server-sent-event stream (multi-line data joined with newlines)."""
    buf: list[str] = []
    for raw in lines:
        line = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
        if line == "":
            if buf:
                yield "\n".join(buf)
                buf = []
            continue
        if line.startswith(":"):
            continue  # comment / keep-alive
        field, _, value = line.partition(":")
        if field == "data":
            buf.append(value[1:] if value.startswith(" ") else value)
    if buf:
        yield "\n".join(buf)


def _server_message(reply) -> str:
    try:
        err = reply.json().get("error")
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])[:500]
        if isinstance(err, str):
            return err[:500]
    except (ValueError, AttributeError):
        pass
    return _snippet(reply.text) or reply.reason or "no message"


def _snippet(text: str, n: int = 300) -> str:
    text = (text or "").strip()
    return text if len(text) <= n else text[:n] + "..."
