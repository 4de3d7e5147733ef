"""Answering is resumable: finished items are never asked again, a torn line is re-asked."""
import pytest

from recai.errors import LLMError
from recai.eval.answers import AnswerLog, Ledger, Prices, ask_all
from recai.eval.task_data import EvalItem
from recai.llm.base import Completion


class CountingLLM:
    def __init__(self, fail_on=()):
        self.asked, self.fail_on = [], set(fail_on)

    def complete_many(self, conversations, max_tokens=256, temperature=0.0, batch_size=8):
        prompts = [c[-1]["content"] for c in conversations]
        if any(p in self.fail_on for p in prompts):
            raise LLMError("server said 500")
        self.asked += prompts
        return [Completion(f"answer to {p}", prompt_tokens=10, completion_tokens=3) for p in prompts]


ITEMS = [EvalItem(f"q{i}", "retrieval", f"question {i}") for i in range(7)]


def test_a_second_run_asks_nothing_again(tmp_path):
    log_path = tmp_path / "answers.jsonl"
    first = CountingLLM()
    ledger = Ledger(prices=Prices(prompt=1.0, completion=2.0))
    ask_all(first, ITEMS[:4], AnswerLog(log_path), ledger, batch_size=3, progress=False)
    second = CountingLLM()
    answers = ask_all(second, ITEMS, AnswerLog(log_path), Ledger(), batch_size=3, progress=False)
    assert first.asked == [f"question {i}" for i in range(4)]
    assert second.asked == [f"question {i}" for i in range(4, 7)]
    assert answers == {f"q{i}": f"answer to question {i}" for i in range(7)}
    assert (ledger.calls, ledger.prompt_tokens, ledger.completion_tokens) == (4, 40, 12)
    assert ledger.cost_usd == pytest.approx((40 * 1.0 + 12 * 2.0) / 1e6)


def test_a_torn_last_line_is_dropped_and_asked_again(tmp_path):
    log_path = tmp_path / "answers.jsonl"
    ask_all(CountingLLM(), ITEMS[:3], AnswerLog(log_path), Ledger(), progress=False)
    with open(log_path, "a") as f:
        f.write('{"id": "q3", "answ')  # the process died mid-write
    log = AnswerLog(log_path)
    assert sorted(log.done) == ["q0", "q1", "q2"]
    again = CountingLLM()
    ask_all(again, ITEMS[:4], log, Ledger(), progress=False)
    assert again.asked == ["question 3"]
    assert sorted(AnswerLog(log_path).done) == ["q0", "q1", "q2", "q3"]


def test_a_malformed_middle_line_costs_only_its_own_answer(tmp_path, capsys):
    log_path = tmp_path / "answers.jsonl"
    ask_all(CountingLLM(), ITEMS[:5], AnswerLog(log_path), Ledger(), progress=False)
    lines = log_path.read_text().splitlines(keepends=True)
    lines[1] = "garbage, not json\n"  # q1's answer, edited by hand or corrupted on disk
    lines[3] = '["no", "id"]\n'  # valid JSON, not an answer record
    log_path.write_text("".join(lines))
    log = AnswerLog(log_path)
    assert sorted(log.done) == ["q0", "q2", "q4"]
    assert "line 2, 4 torn or malformed" in capsys.readouterr().err
    again = CountingLLM()
    ask_all(again, ITEMS[:5], log, Ledger(), progress=False)
    assert again.asked == ["question 1", "question 3"]
    assert sorted(AnswerLog(log_path).done) == ["q0", "q1", "q2", "q3", "q4"]


def test_backend_errors_become_empty_answers(tmp_path):
    llm = CountingLLM(fail_on={"question 1"})
    ledger = Ledger()
    answers = ask_all(llm, ITEMS[:3], AnswerLog(tmp_path / "a.jsonl"), ledger, batch_size=3, progress=False)
    assert answers == {"q0": "answer to question 0", "q1": "", "q2": "answer to question 2"}
    assert ledger.errors == 1 and "500" in AnswerLog(tmp_path / "a.jsonl").done["q1"]["error"]
