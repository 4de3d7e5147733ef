"""Judge replies parsed leniently; pairwise tallies put the model on both sides; chit-chat needs agreement."""
import json

from recai.eval.judges import (judge_chitchat, judge_explanations, parse_choice_verdict,
                               parse_explanation_verdict)


def test_explanation_verdicts():
    v = parse_explanation_verdict('Sure! {"A": {"informativeness": 3, "persuasiveness": 2, "helpfulness": 5}, '
                                  '"B": {"informativeness": 1, "persuasiveness": 1, "helpfulness": 1}, "winner": "a"}')
    assert v.scores["A"] == {"informativeness": 3, "persuasiveness": 2, "helpfulness": 3}  # 5 clipped to 3
    assert v.winner == "A"
    assert parse_explanation_verdict("A is better") is None
    assert parse_explanation_verdict('{"A": {"informativeness": 2}, "B": {}}') is None
    assert parse_explanation_verdict('{"A": 1, "B": 2}') is None


def test_choice_verdicts():
    assert parse_choice_verdict("B") == "B" and parse_choice_verdict("I'd say tie.") == "tie"
    assert parse_choice_verdict("Answer a is nicer") == "A" and parse_choice_verdict("hmm") is None


class ScriptedJudge:
    def __init__(self, replies):
        self.replies, self.prompts = list(replies), []

    def chat(self, messages, max_tokens=256, **_):
        self.prompts.append(messages[-1]["content"])
        return self.replies.pop(0)


def scores(a, b, winner):
    def crit(x):
        return {"informativeness": x, "persuasiveness": x, "helpfulness": x}
    return json.dumps({"A": crit(a), "B": crit(b), "winner": winner})


def test_the_model_sits_on_both_sides():
    judge = ScriptedJudge([scores(3, 1, "A"), scores(1, 3, "B"), "garbage"])
    rows = [("h", "Heat", "mine0", "ref0"), ("h", "Heat", "mine1", "ref1"), ("h", "Heat", "mine2", "ref2")]
    t = judge_explanations(judge, rows)
    assert "Explanation A: mine0" in judge.prompts[0] and "Explanation B: mine1" in judge.prompts[1]
    assert (t.wins, t.losses, t.ties, t.failures) == (2, 0, 0, 1)
    assert t.to_dict()["informativeness_mean"] == 3.0


def test_chitchat_wins_only_when_both_orders_agree():
    judge = ScriptedJudge(["A", "B",   # model first then second: both pick the model -> win
                           "A", "A",   # position bias: disagree -> tie
                           "B", "A",   # both pick the reference -> loss
                           "A", "???"])  # unreadable -> failure
    t = judge_chitchat(judge, [("q", "m", "r")] * 4)
    assert (t.wins, t.ties, t.losses, t.failures) == (1, 1, 1, 1)
    assert t.to_dict()["first_shown_rate"] == 4 / 6  # A in 4 of the 6 readable verdicts


def test_a_judge_that_always_picks_one_position_is_visible():
    judge = ScriptedJudge([scores(3, 1, "A")] * 4)  # the same reply whatever it reads
    t = judge_explanations(judge, [("h", "Heat", f"mine{i}", f"ref{i}") for i in range(4)])
    d = t.to_dict()
    assert (d["win_rate"], d["loss_rate"], d["first_shown_rate"]) == (0.5, 0.5, 1.0)
    assert d["informativeness_mean"] == 2.0  # 3 when the model sat first, 1 when second
