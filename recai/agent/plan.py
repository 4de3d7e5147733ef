"""A plan is a list of tool steps, written by a planner as JSON: [{"tool": ..., "input": ...}, ...]."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from recai.agent.tools import TOOLS

MAX_STEPS = 6


class PlanError(ValueError):
    """A planner's output is not a valid plan; the message says what is wrong with it."""


@dataclass(frozen=True)
class Step:
    tool: str
    input: str

    def to_dict(self) -> dict:
        return asdict(self)


def parse_plan(text: str) -> list[Step]:
    """Steps from a JSON plan; PlanError for invalid JSON, unknown tools, bad fields or too many steps.

    Text around the JSON array (a model's preamble) is ignored.
    """
    start, end = text.find("["), text.rfind("]")
    if start < 0 or end < start:
        raise PlanError(f"no JSON list in the plan: {text[:200]!r}")
    try:
        raw = json.loads(text[start:end + 1])
    except ValueError as e:
        raise PlanError(f"the plan is not valid JSON ({e}): {text[start:start + 200]!r}") from None
    if not isinstance(raw, list) or not raw:
        raise PlanError("the plan must be a non-empty list of steps")
    if len(raw) > MAX_STEPS:
        raise PlanError(f"the plan has {len(raw)} steps; at most {MAX_STEPS} are allowed")
    steps = []
    for i, s in enumerate(raw):
        if not isinstance(s, dict) or set(s) - {"tool", "input"} or "tool" not in s:
            raise PlanError(f"step {i} must be {{\"tool\": ..., \"input\": ...}}, got {json.dumps(s)[:120]}")
        if s["tool"] not in TOOLS:
            raise PlanError(f"step {i}: unknown tool {s['tool']!r}; tools are {sorted(TOOLS)}")
        value = s.get("input", "")
        if not isinstance(value, str):
            value = json.dumps(value)
        steps.append(Step(s["tool"], value))
    return steps


def plan_to_json(steps: list[Step]) -> str:
    return json.dumps([s.to_dict() for s in steps], ensure_ascii=False)
