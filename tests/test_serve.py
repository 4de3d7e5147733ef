"""`recai serve` with the real SmolLM2 model, spoken to by the real `openai` package and by raw HTTP."""
import http.client
import json

import pytest

from recai.errors import ContextLengthError
from recai.generation import generate
from recai.llm import LocalLLM, OpenAIChat
from recai.serve import ServeLimits, start_server

openai = pytest.importorskip("openai")

ASK = [{"role": "user", "content": "Name one science-fiction movie."}]


@pytest.fixture(scope="module")
def llm(smollm2_gguf):
    return LocalLLM.from_spec(str(smollm2_gguf), name="smollm2", time_limit_s=30)


@pytest.fixture(scope="module")
def server(llm):
    srv = start_server(llm, port=0, limits=ServeLimits(max_body_bytes=64 * 1024, max_tokens=64), background=True)
    yield srv
    srv.shutdown()


def raw(server, method, path, body=b"", headers=None):
    conn = http.client.HTTPConnection(*server.server_address[:2], timeout=60)
    conn.request(method, path, body=body, headers={"Content-Type": "application/json", **(headers or {})})
    reply = conn.getresponse()
    data = reply.read()
    conn.close()
    return reply.status, json.loads(data) if data else None


def test_local_llm_reply_equals_plain_greedy_generate(llm):
    ids = llm.tokenizer.encode_chat(ASK)
    (g,) = generate(llm.model, [ids], llm.tokenizer, max_new_tokens=12)
    c = llm.complete(ASK, max_tokens=12)
    assert c.text == g.text and c.text
    assert (c.prompt_tokens, c.completion_tokens, c.finish_reason) == (len(ids), 12, "length")


def test_complete_many_batches_give_the_one_by_one_replies(llm):
    asks = [[{"role": "user", "content": q}] for q in ("Name one science-fiction movie.", "Say hello.",
                                                       "What is 2 + 3? Answer with a number.")]
    many = llm.complete_many(asks, max_tokens=12, batch_size=2)
    assert [c.text for c in many] == [llm.complete(a, max_tokens=12).text for a in asks]
    assert all(c.prompt_tokens == llm.count_tokens(a) for c, a in zip(many, asks))
    with pytest.raises(ValueError, match="batch_size"):
        llm.complete_many(asks, batch_size=0)


def test_openai_client_non_streaming(server, llm):
    client = openai.OpenAI(base_url=server.url, api_key="unused", max_retries=0)
    assert [m.id for m in client.models.list()] == ["smollm2"]
    r = client.chat.completions.create(model="smollm2", messages=ASK, max_tokens=12)
    assert r.choices[0].message.content == llm.chat(ASK, max_tokens=12)
    assert r.choices[0].finish_reason == "length"
    assert r.usage.completion_tokens == 12 and r.usage.total_tokens == r.usage.prompt_tokens + 12


def test_openai_client_streaming(server, llm):
    client = openai.OpenAI(base_url=server.url, api_key="unused", max_retries=0)
    chunks = list(client.chat.completions.create(model="smollm2", messages=ASK, max_tokens=12, stream=True,
                                                 stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == llm.chat(ASK, max_tokens=12)
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "length"
    assert chunks[-1].usage.completion_tokens == 12


def test_our_own_client_round_trips(server, llm):
    remote = OpenAIChat("smollm2", api_base=server.url, max_retries=0)
    assert remote.chat(ASK, max_tokens=8) == llm.chat(ASK, max_tokens=8)
    s = remote.stream_chat(ASK, max_tokens=8, stop=["movie"])
    assert "".join(s) == llm.chat(ASK, max_tokens=8, stop=["movie"])


def test_bad_requests_get_clear_errors_and_the_server_keeps_serving(server):
    status, body = raw(server, "POST", "/v1/chat/completions", b"\xff\xfe not utf-8")
    assert status == 400 and "UTF-8" in body["error"]["message"]
    status, body = raw(server, "POST", "/v1/chat/completions", b"{not json")
    assert status == 400 and "JSON" in body["error"]["message"]
    big = json.dumps({"messages": [{"role": "user", "content": "x" * (1 << 20)}]}).encode()
    status, body = raw(server, "POST", "/v1/chat/completions", big)
    assert status == 413 and "limit" in body["error"]["message"]
    status, body = raw(server, "POST", "/v1/chat/completions", json.dumps({"messages": []}).encode())
    assert status == 400 and "messages" in body["error"]["message"]
    status, body = raw(server, "POST", "/v1/chat/completions",
                       json.dumps({"messages": [{"role": "hacker", "content": "x"}]}).encode())
    assert status == 400 and "role" in body["error"]["message"]
    status, body = raw(server, "POST", "/v1/chat/completions", json.dumps({"messages": ASK, "max_tokens": 10_000}).encode())
    assert status == 400 and body["error"]["param"] == "max_tokens"
    status, body = raw(server, "POST", "/v1/agent", json.dumps({"message": "hi"}).encode())
    assert status == 404 and "--agent" in body["error"]["message"]
    status, body = raw(server, "GET", "/v1/nothing")
    assert status == 404
    status, body = raw(server, "POST", "/v1/chat/completions",
                       json.dumps({"messages": [{"role": "user", "content": ""}], "max_tokens": 4}).encode())
    assert status == 200 and body["choices"][0]["message"]["role"] == "assistant"
    assert raw(server, "GET", "/health") == (200, {"status": "ok"})


def test_a_conversation_longer_than_the_context_is_refused(llm, server):
    long = [{"role": "user", "content": "word " * (llm.context_length + 10)}]
    with pytest.raises(ContextLengthError, match="context"):
        llm.chat(long)
    client = openai.OpenAI(base_url=server.url, api_key="unused", max_retries=0)
    with pytest.raises(openai.BadRequestError):  # 62 KB of "word " fits the body limit but not the context
        client.chat.completions.create(model="smollm2", messages=[{"role": "user", "content": "word " * 9000}])


def test_time_limit_ends_a_reply_early(llm):
    quick = LocalLLM(llm.model, llm.tokenizer, time_limit_s=0.0)
    c = quick.complete(ASK, max_tokens=50)
    assert c.completion_tokens < 5 and c.finish_reason == "length"


def test_api_key_is_enforced(llm):
    srv = start_server(llm, port=0, api_key="sekrit", background=True)
    try:
        status, body = raw(srv, "GET", "/v1/models")
        assert status == 401 and body["error"]["type"] == "authentication_error"
        status, body = raw(srv, "GET", "/v1/models", headers={"Authorization": "Bearer sekrit"})
        assert status == 200
        client = openai.OpenAI(base_url=srv.url, api_key="wrong", max_retries=0)
        with pytest.raises(openai.AuthenticationError):
            client.models.list()
    finally:
        srv.shutdown()


def test_a_constraint_steers_local_decoding(llm):
    """The constraint hook reaches the logits: forcing one token id yields only that token."""
    target = llm.tokenizer.encode(" yes", add_bos=False)[0]

    class Only:
        def processor(self, tokenizer, prompt_len):
            def force(ids, logits):
                out = logits.clone().fill_(float("-inf"))
                out[:, target] = 0.0
                return out
            return force

        def json_schema(self):
            return None

    c = llm.complete(ASK, max_tokens=3, constraint=Only())
    assert c.text == llm.tokenizer.decode([target] * 3)
