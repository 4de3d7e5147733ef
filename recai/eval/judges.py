"""LLM judges: pairwise explanation scoring, and chit-chat comparisons that must agree in both orders.

Explanation judge: the judge sees the user's history, the recommended item and two explanations
(A and B), and answers in JSON with a 1–3 score per criterion — informativeness, persuasiveness,
helpfulness — for each, and an overall winner. Chit-chat judge: the judge sees a question and two
answers and names the better one; it is asked twice with A and B swapped, and a side wins only when
both orders pick it (position bias otherwise reads as a win).

Judges' replies are parsed leniently (the first JSON object in the text, else "A" / "B" / "tie");
a reply that cannot be read is a failure, counted in `failures`, never a crash.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

CRITERIA = ("informativeness", "persuasiveness", "helpfulness")
EXPLANATION_PROMPT = """You compare two explanations of why a movie is recommended to a user.
The user watched: {history}.
Recommended movie: {item}.

Explanation A: {a}

Explanation B: {b}

Score each explanation from 1 (poor) to 3 (good) on informativeness, persuasiveness and helpfulness,
and say which is better overall. Reply with JSON only, for example:
{{"A": {{"informativeness": 2, "persuasiveness": 1, "helpfulness": 2}}, "B": {{"informativeness": 3, "persuasiveness": 2, "helpfulness": 3}}, "winner": "B"}}"""
CHITCHAT_PROMPT = """Which answer to the question is more helpful, correct and natural?
Question: {question}

Answer A: {a}

Answer B: {b}

Reply with one letter: A or B (or "tie")."""
_OBJECT = re.compile(r"\{.*\}", re.S)
_VERDICT = re.compile(r"\b(A|B|tie)\b", re.I)


@dataclass
class ExplanationVerdict:
    scores: dict[str, dict[str, int]]  # "A" / "B" -> criterion -> 1..3
    winner: str  # "A", "B" or "tie"


def parse_explanation_verdict(reply: str) -> ExplanationVerdict | None:
    """The judge's JSON verdict, or None when it has no readable scores for both sides."""
    m = _OBJECT.search(reply or "")
    if not m:
        return None
    try:
        data = json.loads(m.group())
    except ValueError:
        return None
    scores = {}
    for side in ("A", "B"):
        raw = data.get(side) if isinstance(data, dict) else None
        if not isinstance(raw, dict):
            return None
        try:
            scores[side] = {c: min(3, max(1, int(raw[c]))) for c in CRITERIA}
        except (KeyError, TypeError, ValueError):
            return None
    winner = str(data.get("winner", "")).strip()
    winner = {"a": "A", "b": "B"}.get(winner.lower(), "tie")
    return ExplanationVerdict(scores, winner)


def parse_choice_verdict(reply: str) -> str | None:
    m = _VERDICT.search(reply or "")
    if not m:
        return None
    v = m.group(1)
    return v.upper() if v.lower() != "tie" else "tie"


@dataclass
class PairwiseTally:
    """Wins of the evaluated model (side "model") against the reference, ties and failures."""

    wins: int = 0
    losses: int = 0
    ties: int = 0
    failures: int = 0
    # Decisive verdicts, and how many of them named the answer shown first: a judge near 1.0 (or 0.0)
    # picks a position, not an answer, and its win rates say little.
    verdicts: int = 0
    first_shown: int = 0
    criteria: dict[str, list[int]] = field(default_factory=lambda: {c: [] for c in CRITERIA})

    def note_order(self, verdict: str) -> None:
        if verdict in ("A", "B"):
            self.verdicts += 1
            self.first_shown += verdict == "A"

    @property
    def judged(self) -> int:
        return self.wins + self.losses + self.ties

    def to_dict(self) -> dict:
        n = max(self.judged, 1)
        out = {"judged": self.judged, "win_rate": self.wins / n, "loss_rate": self.losses / n,
               "tie_rate": self.ties / n, "failures": self.failures}
        if self.verdicts:
            out["first_shown_rate"] = self.first_shown / self.verdicts
        out.update({f"{c}_mean": sum(v) / len(v) for c, v in self.criteria.items() if v})
        return out


def judge_explanations(judge, rows, max_tokens: int = 160) -> PairwiseTally:
    """rows: (history text, item title, the model's explanation, the reference explanation); the model's
    explanation is A in even rows and B in odd ones, so neither side always reads first."""
    tally = PairwiseTally()
    for n, (history, item, mine, reference) in enumerate(rows):
        model_side = "A" if n % 2 == 0 else "B"
        a, b = (mine, reference) if model_side == "A" else (reference, mine)
        reply = judge.chat([{"role": "user", "content": EXPLANATION_PROMPT.format(history=history, item=item, a=a,
                                                                                   b=b)}], max_tokens=max_tokens)
        verdict = parse_explanation_verdict(reply)
        if verdict is None:
            tally.failures += 1
            continue
        for c in CRITERIA:
            tally.criteria[c].append(verdict.scores[model_side][c])
        tally.note_order(verdict.winner)
        if verdict.winner == "tie":
            tally.ties += 1
        elif verdict.winner == model_side:
            tally.wins += 1
        else:
            tally.losses += 1
    return tally


def judge_chitchat(judge, rows, max_tokens: int = 8) -> PairwiseTally:
    """rows: (question, the model's answer, the reference answer); each asked in both orders."""
    tally = PairwiseTally()
    for question, mine, reference in rows:
        first = parse_choice_verdict(judge.chat([{"role": "user", "content": CHITCHAT_PROMPT.format(
            question=question, a=mine, b=reference)}], max_tokens=max_tokens))
        second = parse_choice_verdict(judge.chat([{"role": "user", "content": CHITCHAT_PROMPT.format(
            question=question, a=reference, b=mine)}], max_tokens=max_tokens))
        if first is None or second is None:
            tally.failures += 1
            continue
        tally.note_order(first)
        tally.note_order(second)
        if first == "A" and second == "B":
            tally.wins += 1
        elif first == "B" and second == "A":
            tally.losses += 1
        else:
            tally.ties += 1  # the orders disagree (or both said tie): no win for either side
    return tally
