"""The evaluator's runner: an interrupted run resumes without re-asking and gives the same table;
garbage or empty answers score as failures; the runner works against `recai serve` over HTTP."""
import argparse

import pytest

from recai.eval.answers import Ledger
from recai.eval.cli import Runner, markdown
from recai.eval.task_data import TaskBuilder
from recai.llm.base import Completion


def args_for(out, **kw):
    base = dict(model="scripted", api_base=None, embedder=None, judge=None, reference=None, simulator="rules",
                agent=False, dataset="tiny", n=6, candidates=8, max_turns=2, max_new_tokens=32, batch_size=2,
                out=out, seed=0)
    return argparse.Namespace(**{**base, **kw})


class Interrupted(BaseException):
    pass


class EchoLLM:
    """Answers with the prompt's candidate titles in order (ranking) or "A" (multiple choice); can be
    told to die after some calls, like a run killed with Ctrl-C."""

    def __init__(self, die_after=None, garbage=False):
        self.calls, self.die_after, self.garbage = 0, die_after, garbage

    def complete_many(self, conversations, max_tokens=256, temperature=0.0, batch_size=8):
        out = []
        for c in conversations:
            if self.die_after is not None and self.calls >= self.die_after:
                raise Interrupted()
            self.calls += 1
            prompt = c[-1]["content"]
            if self.garbage:
                out.append(Completion("" if self.calls % 2 else "@@@ ###", 5, 1))
            elif "letter" in prompt:
                out.append(Completion("A", 5, 1))
            elif "least likely: " not in prompt:  # a conversation turn or a judge's question
                out.append(Completion("I suggest the first one. 1", 5, 7))
            else:
                names = prompt.split("least likely: ")[1].split(". Answer")[0].split("; ")
                out.append(Completion("\n".join(f"{n}. {t}" for n, t in enumerate(names, 1)), 5, 9))
        return out

    def complete(self, messages, **kw):
        return self.complete_many([messages])[0]

    def chat(self, messages, **kw):
        return self.complete(messages).text


def run(dataset, out, llm, tasks=("ranking", "seq_ranking_mc")):
    runner = Runner(args_for(out), dataset, TaskBuilder(dataset, seed=0), out, Ledger())
    runner._llm = llm
    return {"tasks": {t: runner.run(t) for t in tasks}}


def test_an_interrupted_run_resumes_and_gives_the_same_table(dataset, tmp_path):
    whole = run(dataset, tmp_path / "whole", EchoLLM())
    with pytest.raises(Interrupted):
        run(dataset, tmp_path / "resumed", EchoLLM(die_after=3))
    second = EchoLLM()
    resumed = run(dataset, tmp_path / "resumed", second)
    assert markdown(resumed) == markdown(whole)
    assert second.calls == 12 - 2  # 6 + 6 questions; the first batch of 2 was saved before the kill
    third = EchoLLM()
    run(dataset, tmp_path / "resumed", third)
    assert third.calls == 0


def test_garbage_and_empty_answers_are_failures_not_crashes(dataset, tmp_path):
    scores = run(dataset, tmp_path / "g", EchoLLM(garbage=True))["tasks"]
    assert scores["ranking"]["hit@20"] == 0.0 and scores["ranking"]["no_list"] == 1.0
    assert scores["seq_ranking_mc"]["acc@1"] == 0.0 and scores["seq_ranking_mc"]["none_ratio"] == 1.0


def test_judge_and_conversation_calls_are_in_the_ledger(dataset, tmp_path):
    runner = Runner(args_for(tmp_path / "m", n=2), dataset, TaskBuilder(dataset, seed=0), tmp_path / "m", Ledger())
    runner._llm = llm = EchoLLM()
    runner.run("conversation")
    assert runner.ledger.calls == llm.calls > 0  # every recommender turn, none asked through ask_all
    before = llm.calls
    runner.run("explanation")
    assert runner.ledger.calls == llm.calls > before  # the answers and the judge's verdicts
    assert runner.ledger.completion_tokens > 0


def test_the_runner_against_recai_serve(dataset, tmp_path, smollm2_gguf):
    from recai.llm import LocalLLM, OpenAIChat
    from recai.serve import ServeLimits, start_server

    local = LocalLLM.from_spec(str(smollm2_gguf), name="smollm2")
    server = start_server(local, port=0, limits=ServeLimits(max_tokens=32), background=True)
    try:
        host, port = server.server_address[:2]
        remote = OpenAIChat("smollm2", api_base=f"http://{host}:{port}/v1", max_retries=0)
        args = args_for(tmp_path / "http", n=2, max_new_tokens=24)
        runner = Runner(args, dataset, TaskBuilder(dataset, seed=0), tmp_path / "http", Ledger())
        runner._llm = remote
        scores = runner.run("seq_ranking_mc")
        assert scores["items"] == 2 and 0.0 <= scores["acc@1"] <= 1.0
        assert runner.ledger.calls == 2 and runner.ledger.prompt_tokens > 50
    finally:
        server.shutdown()
