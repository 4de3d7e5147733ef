"""InteRecAgent: an LLM (or rule) planner calling recommender tools over a shared candidate bus.

`Agent(domain, llm)` holds one conversation; `Domain.build(dataset)` prepares the catalog, the
SASRec ranker and the item index the tools use. See recai/agent/agent.py for the loop.
"""
from __future__ import annotations

import importlib

_WHERE = {"Agent": "agent", "Turn": "agent", "Domain": "domain", "RulePlanner": "rule_planner",
          "Step": "plan", "parse_plan": "plan", "TOOLS": "tools"}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module 'recai.agent' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"recai.agent.{_WHERE[name]}"), name)
    globals()[name] = value
    return value
