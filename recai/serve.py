"""`recai serve`: an OpenAI-compatible HTTP server for a local model, plus agent sessions.

Endpoints
  GET  /v1/models             the one served model
  POST /v1/chat/completions   OpenAI's chat API, with `"stream": true` as server-sent events
  POST /v1/agent              {"message": str, "session": id?} -> the agent's reply, plan and tool trace
  GET  /health                "ok"

Standard library only (http.server, one thread per connection). Every input is bounded: the
request body (`max_body_bytes`), the reply length (`max_tokens`), the prompt (the model's context),
the time one reply may run (the LLM's `time_limit_s`), the number of live agent sessions, and the
socket read timeout. A bad request gets an OpenAI-style error body and the server keeps serving.
"""
from __future__ import annotations

import json
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

from recai.errors import LLMError, RecaiError


DRAIN_BYTES = 16 << 20  # oversized bodies up to this size are read and dropped before the 413


@dataclass
class ServeLimits:
    max_body_bytes: int = 256 * 1024
    max_tokens: int = 512  # cap on a request's max_tokens (and its default when it sends none)
    max_sessions: int = 1000  # agent sessions kept; the least recently used is dropped beyond this
    read_timeout_s: float = 30.0  # a client that stalls mid-request is dropped after this


class RequestError(Exception):
    """A request the server refuses: HTTP status, OpenAI error type, message."""

    def __init__(self, status: int, message: str, kind: str = "invalid_request_error", param: str | None = None):
        super().__init__(message)
        self.status, self.kind, self.param = status, kind, param


class AgentSessions:
    """Agents by session id, created on demand by `factory()`, least recently used dropped past `limit`."""

    def __init__(self, factory: Callable[[], object], limit: int):
        self.factory, self.limit = factory, limit
        self._agents: OrderedDict[str, tuple[object, threading.Lock]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, session: str | None) -> tuple[str, object, threading.Lock]:
        with self._lock:
            if session is None or session not in self._agents:
                session = session or uuid.uuid4().hex
                self._agents[session] = (self.factory(), threading.Lock())
            self._agents.move_to_end(session)
            while len(self._agents) > self.limit:
                self._agents.popitem(last=False)
            agent, lock = self._agents[session]
            return session, agent, lock


class RecaiServer(ThreadingHTTPServer):
    daemon_threads = True  # a stuck client never keeps the process alive on shutdown

    def __init__(self, address, llm, limits: ServeLimits | None = None, agent_factory=None, api_key=None):
        self.llm = llm
        self.limits = limits or ServeLimits()
        self.sessions = AgentSessions(agent_factory, self.limits.max_sessions) if agent_factory else None
        self.api_key = api_key
        super().__init__(address, Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/v1"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: RecaiServer

    def setup(self):
        self.timeout = self.server.limits.read_timeout_s
        super().setup()

    def log_message(self, format, *args):  # quiet by default; errors go back to the client
        pass

    # ---- routing -----------------------------------------------------------------------------
    def do_GET(self):
        self._guard(self._get)

    def do_POST(self):
        self._guard(self._post)

    def _get(self):
        self._check_auth()
        if self.path.rstrip("/") == "/health":
            return self._send_json(200, {"status": "ok"})
        if self.path.rstrip("/") == "/v1/models":
            return self._send_json(200, {"object": "list", "data": [self._model_card()]})
        raise RequestError(404, f"no route GET {self.path}; try GET /v1/models", "not_found_error")

    def _post(self):
        body = self._read_json()  # read first, so the connection stays usable after an error
        self._check_auth()
        if self.path.rstrip("/") == "/v1/chat/completions":
            return self._chat(body)
        if self.path.rstrip("/") == "/v1/agent":
            return self._agent(body)
        raise RequestError(404, f"no route POST {self.path}; try /v1/chat/completions", "not_found_error")

    def _guard(self, route):
        try:
            route()
        except RequestError as e:
            self._send_error(e.status, str(e), e.kind, e.param)
        except (ValueError, RecaiError) as e:  # bad fields caught by the backend's own checks
            status = 400 if isinstance(e, ValueError) else 502  # a backend failure is the upstream's fault
            self._send_error(status, str(e), "invalid_request_error" if status == 400 else "server_error")
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            self.close_connection = True

    # ---- /v1/chat/completions ----------------------------------------------------------------
    def _chat(self, body: dict):
        llm, limits = self.server.llm, self.server.limits
        model = body.get("model")
        if model is not None and model != llm.name:
            raise RequestError(404, f"model {model!r} is not served here; this server serves {llm.name!r} "
                                    "(GET /v1/models)", "not_found_error", "model")
        max_tokens = body.get("max_completion_tokens", body.get("max_tokens")) or limits.max_tokens
        if not isinstance(max_tokens, int) or max_tokens < 1:
            raise RequestError(400, f"max_tokens must be a positive integer, got {max_tokens!r}", param="max_tokens")
        if max_tokens > limits.max_tokens:
            raise RequestError(400, f"max_tokens {max_tokens} is over this server's limit of {limits.max_tokens}",
                               param="max_tokens")
        stop = body.get("stop") or []
        stop = [stop] if isinstance(stop, str) else stop
        if not isinstance(stop, list) or not all(isinstance(s, str) and s for s in stop) or len(stop) > 4:
            raise RequestError(400, "stop must be a string or a list of up to 4 non-empty strings", param="stop")
        temperature = body.get("temperature", 0.0)
        if temperature is None:
            temperature = 0.0
        kwargs = dict(max_tokens=max_tokens, temperature=temperature, stop=stop)
        messages = _text_messages(body.get("messages"))
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return self._chat_stream(llm.stream_chat(messages, **kwargs), include_usage)
        c = llm.complete(messages, **kwargs)
        self._send_json(200, {
            "id": _completion_id(), "object": "chat.completion", "created": int(time.time()), "model": llm.name,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": c.text},
                         "finish_reason": c.finish_reason}],
            "usage": _usage(c.prompt_tokens, c.completion_tokens)})

    def _chat_stream(self, stream, include_usage: bool):
        cid, created, name = _completion_id(), int(time.time()), self.server.llm.name

        def chunk(delta: dict, finish=None) -> dict:
            return {"id": cid, "object": "chat.completion.chunk", "created": created, "model": name,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")  # the stream ends when the connection does
        self.end_headers()
        self.close_connection = True
        self._event(chunk({"role": "assistant", "content": ""}))
        try:
            for piece in stream:
                self._event(chunk({"content": piece}))
        except (BrokenPipeError, ConnectionResetError):
            stream.close()  # the client left: stop generating
            return
        except (LLMError, ValueError) as e:
            self._event({"error": {"message": str(e), "type": "server_error"}})
            self._raw(b"data: [DONE]\n\n")
            return
        self._event(chunk({}, stream.finish_reason))
        if include_usage:
            self._event({"id": cid, "object": "chat.completion.chunk", "created": created, "model": name,
                         "choices": [], "usage": _usage(stream.prompt_tokens, stream.completion_tokens)})
        self._raw(b"data: [DONE]\n\n")

    # ---- /v1/agent ---------------------------------------------------------------------------
    def _agent(self, body: dict):
        if self.server.sessions is None:
            raise RequestError(404, "this server runs no agent; start it with `recai serve --agent`", "not_found_error")
        message = body.get("message")
        if not isinstance(message, str) or not message.strip():
            raise RequestError(400, "message must be a non-empty string", param="message")
        session = body.get("session")
        if session is not None and (not isinstance(session, str) or not 0 < len(session) <= 64):
            raise RequestError(400, "session must be a string of 1 to 64 characters", param="session")
        session, agent, lock = self.server.sessions.get(session)
        with lock:  # one turn at a time per session; other sessions run concurrently
            turn = agent.turn(message)
        self._send_json(200, {"session": session, **turn.to_dict()})

    # ---- plumbing ----------------------------------------------------------------------------
    def _check_auth(self):
        key = self.server.api_key
        if key and self.headers.get("Authorization", "") != f"Bearer {key}":
            raise RequestError(401, "missing or wrong API key (send Authorization: Bearer KEY)",
                               "authentication_error")

    def _read_json(self) -> dict:
        limit = self.server.limits.max_body_bytes
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self.close_connection = True
            raise RequestError(411, "send a Content-Length header with the JSON body") from None
        if length < 0 or length > limit:
            self._discard(length)
            raise RequestError(413, f"request body of {length} bytes is over this server's limit of {limit} bytes; "
                                    "send a shorter message")
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError as e:
            raise RequestError(400, f"request body is not valid UTF-8 (byte {e.start})") from None
        except ValueError as e:
            raise RequestError(400, f"request body is not valid JSON: {e}") from None
        if not isinstance(body, dict):
            raise RequestError(400, "request body must be a JSON object")
        return body

    def _discard(self, length: int) -> None:
        """Read and drop an oversized body, so the client gets the 413 instead of a broken pipe.

        Only up to DRAIN_BYTES are read (in small pieces, under the socket timeout); beyond that the
        connection is simply closed after the reply.
        """
        self.close_connection = True  # never parse a partly-read body as the next request
        if 0 < length <= DRAIN_BYTES:
            while length > 0:
                piece = self.rfile.read(min(length, 1 << 16))
                if not piece:
                    break
                length -= len(piece)

    def _model_card(self) -> dict:
        return {"id": self.server.llm.name, "object": "model", "created": 0, "owned_by": "recai"}

    def _send_json(self, status: int, obj: dict):
        data = json.dumps(obj, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _send_error(self, status: int, message: str, kind: str, param: str | None = None):
        self._send_json(status, {"error": {"message": message, "type": kind, "param": param,
                                           "code": HTTPStatus(status).phrase.lower().replace(" ", "_")}})

    def _event(self, obj: dict):
        self._raw(b"data: " + json.dumps(obj, ensure_ascii=False).encode("utf-8") + b"\n\n")

    def _raw(self, data: bytes):
        self.wfile.write(data)
        self.wfile.flush()


def _text_messages(messages) -> list[dict]:
    """OpenAI messages with string content (content-part lists of text are joined)."""
    if not isinstance(messages, list) or not messages:
        raise RequestError(400, "messages must be a non-empty list", param="messages")
    out = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            raise RequestError(400, f"messages[{i}] must be an object", param="messages")
        content = m.get("content")
        if isinstance(content, list):  # [{"type": "text", "text": ...}, ...]
            if not all(isinstance(p, dict) and p.get("type") == "text" for p in content):
                raise RequestError(400, f"messages[{i}]: only text content parts are supported", param="messages")
            content = "".join(str(p.get("text", "")) for p in content)
        out.append({"role": m.get("role"), "content": content})
    return out


def _completion_id() -> str:
    return "chatcmpl-" + uuid.uuid4().hex[:24]


def _usage(prompt: int, completion: int) -> dict:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def start_server(llm, host: str = "127.0.0.1", port: int = 8000, limits: ServeLimits | None = None,
                 agent_factory=None, api_key: str | None = None, background: bool = False) -> RecaiServer:
    """Bind the server (port 0 picks a free one). background=True serves from a daemon thread and
    returns at once (tests, notebooks); otherwise the caller runs `serve_forever()`."""
    server = RecaiServer((host, port), llm, limits, agent_factory, api_key)
    if background:
        threading.Thread(target=server.serve_forever, name="recai-serve", daemon=True).start()
    return server
