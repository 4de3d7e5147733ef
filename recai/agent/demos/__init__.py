"""The demo bank: [request -> plan] demonstrations the LLM planner picks from by similarity.

The bank for the default domain (ml-latest-small) ships as `ml-latest-small.jsonl`; it was made by
`python -m recai.agent.demos` from the request templates (training items only, see
`recai.agent.requests`) plus hand-written demonstrations for cases the templates do not cover.
Other domains get a bank generated from the same templates on first use.
"""
from __future__ import annotations

import json
from pathlib import Path

from recai.agent.plan import parse_plan, plan_to_json
from recai.agent.requests import Example, RequestGenerator
from recai.errors import DataError

HERE = Path(__file__).parent
BANK_SIZE = 140


def bank_path(name: str) -> Path:
    return HERE / f"{name}.jsonl"


def load_demos(domain) -> list[Example]:
    """The shipped bank for the domain's dataset, else one generated from the templates (training split)."""
    path = bank_path(domain.name)
    if path.is_file():
        return read_bank(path)
    return RequestGenerator(domain, "train", seed=0).examples(BANK_SIZE)


def read_bank(path: Path) -> list[Example]:
    """Demonstrations from JSONL ({"request", "plan", "intent"} per line); DataError naming the line."""
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            out.append(Example(row["request"], parse_plan(json.dumps(row["plan"])), row.get("intent", "")))
        except (ValueError, KeyError, TypeError) as e:
            raise DataError(f"{path}:{n}: not a demonstration ({e})") from None
    return out


def write_bank(path: Path, examples: list[Example]) -> None:
    from recai.data.atomic import atomic_text

    with atomic_text(path) as f:
        for ex in examples:
            f.write(json.dumps({"request": ex.request, "plan": json.loads(plan_to_json(ex.plan)),
                                "intent": ex.intent}, ensure_ascii=False) + "\n")
