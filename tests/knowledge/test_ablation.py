"""The ablation runner: metrics from parsed rankings, with a scripted LLM and through `recai serve`."""
import math
import re

import pytest

from recai.data import leave_one_out
from recai.knowledge.attributes import AttributeFacts
from recai.knowledge.evaluate import RankRequest, rank_requests, run_ablation
from recai.knowledge.prompt import KnowledgePlugin
from recai.llm.base import Completion


class EchoLLM:
    """Lists the prompt's candidates in reverse, or answers nonsense when the prompt has facts."""

    def __init__(self):
        self.calls = 0

    def complete_many(self, conversations, max_tokens=256, temperature=0.0, batch_size=8):
        out = []
        for messages in conversations:
            self.calls += 1
            text = messages[-1]["content"]
            if "Facts that may help" in text:
                out.append(Completion("I would rather not.", prompt_tokens=7))
                continue
            titles = re.findall(r"^- (.*)$", text.split("Candidates:\n")[1], re.M)
            out.append(Completion("\n".join(f"{n}. {t}" for n, t in enumerate(reversed(titles), 1)), 7))
        return out


def test_metrics_follow_the_parsed_ranking(catalog):
    plugin = KnowledgePlugin(catalog, attributes=AttributeFacts(catalog), budget=200)
    # Target at prompt position 0 -> reversed rank 4; at position 3 -> rank 1.
    requests = [RankRequest(0, [5], target=1, candidates=[1, 2, 3, 4]),
                RankRequest(1, [5], target=4, candidates=[1, 2, 3, 4])]
    llm = EchoLLM()
    rows, transcripts = run_ablation(llm, plugin, requests, ["none", "attributes"], progress=False)
    none, attrs = rows
    assert none.hit1 == 0.5 and none.hit5 == 1.0 and none.ndcg1 == 0.5
    assert none.ndcg5 == pytest.approx((1 / math.log2(5) + 1.0) / 2)
    assert none.parse_failures == 0.0 and none.knowledge_tokens == 0 and none.prompt_tokens == 7
    # The nonsense reply is a parse failure: prompt order, target 1 first, target 4 last.
    assert attrs.parse_failures == 1.0 and attrs.hit1 == 0.5 and attrs.knowledge_tokens > 0
    assert llm.calls == 4 and len(transcripts["attributes"]) == 2
    with pytest.raises(ValueError, match="unknown configurations \\['wiki'\\]"):
        run_ablation(llm, plugin, requests, ["wiki"], progress=False)


def test_requests_are_drawn_once_per_seed(catalog, interactions):
    test = leave_one_out(interactions).test
    a = rank_requests(test, len(catalog), 5, n_candidates=3, seed=1)
    assert a == rank_requests(test, len(catalog), 5, n_candidates=3, seed=1)
    for r in a:
        assert r.target in r.candidates and not set(r.history) & set(r.candidates)


def test_end_to_end_through_recai_serve(smollm2_gguf, catalog):
    """The same runner against a real OpenAI-compatible server (`recai serve` with SmolLM2)."""
    from recai.llm import LocalLLM, OpenAIChat
    from recai.serve import ServeLimits, start_server

    local = LocalLLM.from_spec(str(smollm2_gguf), name="smollm2")
    server = start_server(local, port=0, limits=ServeLimits(max_tokens=48), background=True)
    try:
        host, port = server.server_address[:2]
        remote = OpenAIChat("smollm2", api_base=f"http://{host}:{port}/v1", max_retries=0)
        plugin = KnowledgePlugin(catalog, attributes=AttributeFacts(catalog), budget=64)
        requests = [RankRequest(0, [0], target=1, candidates=[1, 2, 3]), RankRequest(1, [], target=5,
                                                                                     candidates=[5, 4])]
        rows, transcripts = run_ablation(remote, plugin, requests, ["none", "attributes"], max_tokens=48,
                                         progress=False)
        for row in rows:
            assert row.users == 2 and 0.0 <= row.ndcg10 <= 1.0 and row.prompt_tokens > 20
        # The server's replies are the local model's greedy replies.
        prompt, reply = transcripts["attributes"][0]
        assert reply == local.complete(prompt.messages, max_tokens=48).text
    finally:
        server.shutdown()
