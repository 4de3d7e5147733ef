"""OpenAIChat against a scripted local HTTP server: retries, errors, SSE streaming, key handling."""
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from recai.errors import LLMError
from recai.llm import OpenAIChat, load_llm
from recai.llm.openai_http import _sse_data

MESSAGES = [{"role": "user", "content": "hi"}]
SECRET = "sk-test-secret-123"


def completion(text="hello", finish="stop"):
    return {"id": "c1", "object": "chat.completion", "choices": [
        {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}}


class Scripted(ThreadingHTTPServer):
    """Answers each POST with the next scripted (status, body, headers, delay) and records requests."""
    daemon_threads = True

    def __init__(self, script):
        self.script, self.requests = list(script), []
        super().__init__(("127.0.0.1", 0), ScriptedHandler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def base(self):
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class ScriptedHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
        status, payload, headers, delay = self.server.script.pop(0)
        time.sleep(delay)
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        try:
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass


def step(status=200, payload=None, headers=None, delay=0.0):
    return (status, completion() if payload is None else payload, headers or {}, delay)


def client(server, **kw):
    kw.setdefault("backoff_s", 0.01)
    return OpenAIChat("m", api_base=server.base, api_key=SECRET, **kw)


def test_plain_completion_sends_the_openai_body_and_reads_usage():
    srv = Scripted([step()])
    c = client(srv).complete(MESSAGES, max_tokens=7, temperature=0.5, stop=["\n"])
    assert (c.text, c.prompt_tokens, c.completion_tokens, c.finish_reason) == ("hello", 3, 1, "stop")
    req = srv.requests[0]
    assert req["path"] == "/v1/chat/completions"
    assert req["headers"]["Authorization"] == f"Bearer {SECRET}"
    assert req["body"] == {"model": "m", "messages": MESSAGES, "max_tokens": 7, "temperature": 0.5,
                           "stream": False, "stop": ["\n"]}


def test_429_and_5xx_are_retried_then_succeed():
    srv = Scripted([step(429, {"error": {"message": "slow down"}}, {"Retry-After": "0.05"}),
                    step(503, {"error": "busy"}), step()])
    t = time.monotonic()
    assert client(srv).chat(MESSAGES) == "hello"
    assert len(srv.requests) == 3
    assert time.monotonic() - t >= 0.05  # Retry-After was honoured


def test_persistent_5xx_gives_up_with_the_server_message():
    srv = Scripted([step(500, {"error": {"message": "model crashed"}})] * 3)
    with pytest.raises(LLMError, match="HTTP 500: model crashed"):
        client(srv, max_retries=2).chat(MESSAGES)
    assert len(srv.requests) == 3


def test_auth_failure_is_not_retried_and_never_shows_the_key():
    srv = Scripted([step(401, {"error": {"message": "Incorrect API key provided"}})])
    with pytest.raises(LLMError) as err:
        client(srv).chat(MESSAGES)
    assert "authentication failed" in str(err.value) and "OPENAI_API_KEY" in str(err.value)
    assert SECRET not in str(err.value) and SECRET not in repr(client(srv))
    assert len(srv.requests) == 1


def test_other_4xx_fails_at_once():
    srv = Scripted([step(400, {"error": {"message": "max_tokens too large"}})])
    with pytest.raises(LLMError, match="HTTP 400: max_tokens too large"):
        client(srv).chat(MESSAGES)
    assert len(srv.requests) == 1


def test_a_server_that_does_not_answer_times_out_with_a_clear_error():
    srv = Scripted([step(delay=1.0), step(delay=1.0)])
    t = time.monotonic()
    with pytest.raises(LLMError, match="no reply within 0.2 s"):
        client(srv, timeout_s=0.2, max_retries=1).chat(MESSAGES)
    assert time.monotonic() - t < 1.5


def test_nothing_listening_is_a_connection_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    c = OpenAIChat("m", api_base=f"http://127.0.0.1:{port}/v1", max_retries=1, backoff_s=0.01)
    with pytest.raises(LLMError, match="cannot connect"):
        c.chat(MESSAGES)


def test_a_reply_that_is_not_a_completion_is_an_error():
    srv = Scripted([step(200, {"unexpected": True})])
    with pytest.raises(LLMError, match="not a chat completion"):
        client(srv).chat(MESSAGES)


def sse(*events):
    return b"".join(b"data: " + (e if isinstance(e, bytes) else json.dumps(e).encode()) + b"\n\n" for e in events)


def delta(text=None, finish=None):
    d = {} if text is None else {"content": text}
    return {"choices": [{"index": 0, "delta": d, "finish_reason": finish}]}


def test_streaming_yields_deltas_and_fills_counts():
    body = (b": keep-alive\n\n" + sse(delta(""), delta("Hel"), delta("lo"), delta(None, "length"),
                                       {"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 2}})
            + b"data: [DONE]\n\n")
    srv = Scripted([step(200, body, {"Content-Type": "text/event-stream"})])
    s = client(srv).stream_chat(MESSAGES)
    assert list(s) == ["Hel", "lo"]
    assert s.completion.text == "Hello" and s.finish_reason == "length"
    assert (s.prompt_tokens, s.completion_tokens) == (5, 2)
    assert srv.requests[0]["body"]["stream"] is True


def test_an_error_event_mid_stream_raises():
    srv = Scripted([step(200, sse(delta("a"), {"error": {"message": "overloaded"}}))])
    s = client(srv).stream_chat(MESSAGES)
    assert next(s) == "a"
    with pytest.raises(LLMError, match="mid-stream"):
        next(s)


def test_sse_parser_joins_multiline_data_and_skips_comments():
    lines = [b": hi", b"data: a", b"data: b", b"", b"event: x", b"data:c", b""]
    assert list(_sse_data(lines)) == ["a\nb", "c"]


def test_azure_style_sends_api_key_header_and_version():
    srv = Scripted([step()])
    client(srv, api_version="2024-06-01").chat(MESSAGES)
    req = srv.requests[0]
    assert req["headers"]["api-key"] == SECRET and "Authorization" not in req["headers"]
    assert req["path"] == "/v1/chat/completions?api-version=2024-06-01"


def test_key_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    srv = Scripted([step()])
    load_llm("openai:m", api_base=srv.base).chat(MESSAGES)
    assert srv.requests[0]["headers"]["Authorization"] == "Bearer sk-env"


def test_bad_arguments_fail_before_any_request():
    srv = Scripted([])
    with pytest.raises(ValueError, match="messages is empty"):
        client(srv).chat([])
    with pytest.raises(ValueError, match="role"):
        client(srv).chat([{"role": "robot", "content": "x"}])
    with pytest.raises(ValueError, match="max_tokens"):
        client(srv).chat(MESSAGES, max_tokens=0)
    with pytest.raises(ValueError, match="model name"):
        load_llm("openai:")
    assert srv.requests == []
