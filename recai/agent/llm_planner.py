"""The plan-first LLM planner: one model call writes the whole plan as JSON.

The prompt shows the tools, the catalog schema, and the demonstrations from the demo bank whose
requests are closest to this one by embedding similarity (dynamic few-shot). On a local model the
reply is decoded under the plan grammar (`grammar.PlanConstraint`), so it always parses and names
only real tools; remote models get the grammar as a JSON schema. Optional reflection: a critic call
reads the plan and may send back a corrected one, a bounded number of times.
"""
from __future__ import annotations

import torch

from recai.agent.demos import load_demos
from recai.agent.grammar import PlanConstraint
from recai.agent.plan import PlanError, Step, parse_plan, plan_to_json
from recai.agent.tools import TOOLS, tool_help

SYSTEM = """You plan tool calls for a movie recommender. Tools:
{tools}
Catalog tables:
{schema}
Reply with only a JSON list of steps: [{{"tool": "...", "input": "..."}}].
Recommendation plans use, in this order and only when the request needs them: candidates, hard_filter,
soft_filter, then one rank step. A question about one movie is a single lookup step."""

MEMORY_TURNS = 3  # earlier user messages shown to the planner

CRITIC = """Check a tool plan for a movie recommender. Tools:
{tools}
Request: {request}
Plan: {plan}
If the plan does what the request asks, reply OK. Otherwise reply with only the corrected JSON plan."""


class LLMPlanner:
    """Plans with `llm` (a `recai.llm` backend).

    demos: the demo bank (default: the bank for the domain, see `recai.agent.demos`). n_demos: how
    many nearest demonstrations the prompt shows. constrain: decode under the plan grammar.
    reflections: critic rounds (0: none). system: replaces the default prompt (tools, schema, rules).
    Raises PlanError when the reply is not a valid plan
    (only possible unconstrained); the agent then falls back to the rule planner and says so.
    """

    def __init__(self, domain, llm, demos=None, n_demos: int = 4, constrain: bool = True, reflections: int = 0,
                 max_tokens: int = 200, name: str = "llm", system: str | None = None):
        self.domain, self.llm, self.name = domain, llm, name
        self.demos = list(demos) if demos is not None else load_demos(domain)
        self.n_demos, self.constrain, self.reflections, self.max_tokens = n_demos, constrain, reflections, max_tokens
        self.grammar = PlanConstraint(list(TOOLS))
        self._demo_vectors = None
        # A tuned planner (recai train planner) was trained with its own short system prompt.
        self.system = system or SYSTEM.format(tools=tool_help(), schema=domain.catalog.describe())

    def plan(self, message: str, context: dict | None = None) -> list[Step]:
        messages = self.prompt(message, context)
        text = self.llm.chat(messages, max_tokens=self.max_tokens, temperature=0.0,
                             constraint=self.grammar if self.constrain else None)
        steps = parse_plan(text)
        for _ in range(self.reflections):
            revised = self._criticise(message, steps)
            if revised is None or revised == steps:
                break
            steps = revised
        return steps

    def prompt(self, message: str, context: dict | None = None) -> list[dict]:
        """The chat messages of the planning call (system, demonstrations as past turns, the request)."""
        messages = [{"role": "system", "content": self.system}]
        for demo in self.nearest_demos(message):
            messages += [{"role": "user", "content": demo.request},
                         {"role": "assistant", "content": plan_to_json(demo.plan)}]
        context = context or {}
        extra = ""
        earlier = [m["content"] for m in context.get("dialogue", ()) if m["role"] == "user"][-MEMORY_TURNS:]
        if context.get("summary"):  # exchanges that left the memory window, folded
            extra += f"\n(Long ago the user said: {context['summary']})"
        if earlier:  # the short-term memory: what the user asked before, for follow-ups like "and older?"
            extra += "\n(Earlier the user said: " + " | ".join(earlier) + ")"
        profile = context.get("profile")
        if profile and profile != "nothing known yet":
            extra += f"\n(Known about the user: {profile})"
        messages.append({"role": "user", "content": message + extra})
        return messages

    def nearest_demos(self, message: str) -> list:
        """The n_demos demonstrations closest to message (by the domain embedder; the first ones without it)."""
        if not self.demos or self.n_demos == 0:
            return []
        embedder = self.domain.embedder
        if embedder is None:
            return self.demos[:self.n_demos]
        if self._demo_vectors is None:
            self._demo_vectors = embedder.encode([d.request for d in self.demos])
        q = embedder.encode([message])[0]
        sims = self._demo_vectors.float() @ q.float()
        top = torch.topk(sims, min(self.n_demos, len(self.demos))).indices.tolist()
        return [self.demos[i] for i in reversed(top)]  # the closest one last, next to the request

    def _criticise(self, message: str, steps: list[Step]) -> list[Step] | None:
        prompt = CRITIC.format(tools=tool_help(), request=message, plan=plan_to_json(steps))
        reply = self.llm.chat([{"role": "user", "content": prompt}], max_tokens=self.max_tokens, temperature=0.0)
        if reply.strip().upper().startswith("OK"):
            return None
        try:
            return parse_plan(reply)
        except PlanError:
            return None  # an unusable critique keeps the plan
