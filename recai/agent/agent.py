"""The agent loop: per turn, update the profile, plan, run the tools over the bus, answer.

    agent = Agent(Domain.build(), llm=LocalLLM.from_spec("smollm2-135m-instruct"))
    turn = agent.turn("Something like The Matrix, but from the 2000s")
    turn.plan, turn.trace, turn.reply

With `llm=None` the rule-based planner plans and a template writes the answer: no model at all.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

from recai.agent.memory import DialogueMemory
from recai.agent.plan import MAX_STEPS, Step
from recai.agent.rule_planner import RulePlanner
from recai.agent.sql_snap import SqlSnapper
from recai.agent.state import CandidateBus, UserProfile
from recai.agent.tools import MAX_INPUT_CHARS, TOOLS, ToolContext
from recai.agent.understand import RequestReader
from recai.errors import LLMError

MAX_MESSAGE_CHARS = 2000  # longer messages are cut (and the reply says so): a chat turn, not a document
SHOWN = 5  # items in an answer

ANSWER_SYSTEM = ("You are a friendly movie recommender. Answer the user in two to four sentences using only the "
                 "tool results below; recommend only items listed there, by their exact titles. Never invent items.")


@dataclass
class TraceEntry:
    tool: str
    input: str
    observation: str
    seconds: float

    def to_dict(self) -> dict:
        return {"tool": self.tool, "input": self.input, "observation": self.observation,
                "seconds": round(self.seconds, 4)}


@dataclass
class Turn:
    message: str
    plan: list[Step]
    trace: list[TraceEntry]
    reply: str
    items: list[int]  # catalog indices recommended, best first
    titles: list[str]  # their titles
    planner: str
    seconds: float
    notes: list[str] = field(default_factory=list)  # what went wrong and was worked around

    def to_dict(self) -> dict:
        return {"reply": self.reply, "plan": [s.to_dict() for s in self.plan],
                "trace": [t.to_dict() for t in self.trace], "items": self.items, "titles": self.titles,
                "planner": self.planner,
                "seconds": round(self.seconds, 3), "notes": self.notes}


class Agent:
    """A conversational recommender over one domain.

    llm: a `recai.llm` backend for the answer (and the planner, when `planner` is an LLM planner),
        or None for template answers. planner: anything with `plan(message, context) -> [Step]`;
        default the rule planner. history: the user's known items (catalog indices, oldest first).
    """

    def __init__(self, domain, llm=None, planner=None, history=(), memory_tokens: int = 1024,
                 answer_tokens: int = 160):
        self.domain, self.llm = domain, llm
        self.planner = planner or RulePlanner(domain)
        self.reader = getattr(self.planner, "reader", None) or RequestReader(domain)
        self.profile = UserProfile()
        self.history = [int(i) for i in history]
        self.memory = DialogueMemory(memory_tokens, getattr(llm, "count_tokens", None))
        self.answer_tokens = answer_tokens
        self._tool_ctx = ToolContext(domain, self.profile, SqlSnapper(domain.catalog, domain.matcher), self.history)

    def turn(self, message: str) -> Turn:
        start = time.monotonic()
        notes = []
        if not isinstance(message, str) or not message.strip():
            return self._canned(message if isinstance(message, str) else "", start,
                                "Tell me what you are in the mood for, or a movie you liked.")
        message = " ".join(message.split())
        if len(message) > MAX_MESSAGE_CHARS:
            message = message[:MAX_MESSAGE_CHARS]
            notes.append(f"the message was cut to its first {MAX_MESSAGE_CHARS} characters")
        self._update_profile(message)
        plan = self._plan(message, notes)
        bus = CandidateBus(self.domain.n_items)
        trace = [self._run(step, bus) for step in plan]
        if not plan or plan[-1].tool not in ("map", "lookup"):
            trace.append(self._run(Step("map", str(SHOWN)), bus))
        items = bus.pool()[:SHOWN] if trace[-1].tool == "map" else []
        reply = self._answer(message, trace, items, notes)
        self.memory.add(message, reply)
        titles = [self.domain.catalog.titles[i] for i in items]
        return Turn(message, plan, trace, reply, items, titles, getattr(self.planner, "name", "custom"),
                    time.monotonic() - start, notes)

    # ---- steps -------------------------------------------------------------------------------
    def _update_profile(self, message: str) -> None:
        req = self.reader.read(message)
        for i in req.liked:
            self.profile.like_item(i)
        for i in req.disliked:
            self.profile.dislike_item(i)
        strong = re.search(r"\b(hate|dislike|can't stand|cannot stand|don't like|do not like|never)\b", message, re.I)
        if strong:
            for c in req.avoid_categories:
                self.profile.dislike_category(c)
        if re.search(r"\bi (?:really )?(?:love|like|enjoy|adore)\b", message, re.I):
            for c in req.want_categories:
                self.profile.like_category(c)

    def _plan(self, message: str, notes: list[str]) -> list[Step]:
        try:
            plan = self.planner.plan(message, self._plan_context())
        except (ValueError, LLMError) as e:  # a bad plan or an unreachable brain: fall back, say so
            notes.append(f"planner failed ({e}); used the rule-based planner")
            plan = RulePlanner(self.domain).plan(message)
        return list(plan)[:MAX_STEPS]

    def _plan_context(self) -> dict:
        return {"profile": self.profile.to_text(self.domain.catalog.titles), "dialogue": self.memory.messages()}

    def _run(self, step: Step, bus: CandidateBus) -> TraceEntry:
        t = time.monotonic()
        text = step.input[:MAX_INPUT_CHARS]
        tool = TOOLS.get(step.tool)
        if tool is None:
            observation = f"error: unknown tool {step.tool!r}"
        else:
            observation = tool.run(bus, text, self._tool_ctx)
        if len(step.input) > MAX_INPUT_CHARS:
            observation += f"\n(input cut to {MAX_INPUT_CHARS} characters)"
        return TraceEntry(step.tool, step.input, observation, time.monotonic() - t)

    def _answer(self, message: str, trace: list[TraceEntry], items: list[int], notes: list[str]) -> str:
        if self.llm is not None:
            try:
                return self._llm_answer(message, trace)
            except LLMError as e:
                notes.append(f"the language model failed ({e}); answered from the tool results")
        return template_answer(trace, items, self.domain)

    def _llm_answer(self, message: str, trace: list[TraceEntry]) -> str:
        results = "\n".join(f"[{t.tool}] {t.observation}" for t in trace)
        profile = self.profile.to_text(self.domain.catalog.titles)
        messages = [{"role": "system", "content": ANSWER_SYSTEM},
                    *self.memory.messages(),
                    {"role": "user", "content": f"{message}\n\nWhat I know about you: {profile}\n\nTool results:\n{results}"}]
        text = self.llm.chat(messages, max_tokens=self.answer_tokens, temperature=0.0).strip()
        return text or template_answer(trace, [], self.domain)

    def _canned(self, message: str, start: float, reply: str) -> Turn:
        return Turn(message, [], [], reply, [], [], "none", time.monotonic() - start, ["empty message"])


def template_answer(trace: list[TraceEntry], items: list[int], domain) -> str:
    """The answer without a language model: the lookup rows, or the recommended items, plus any errors."""
    last = trace[-1] if trace else None
    errors = [t.observation for t in trace if t.observation.startswith("error:")]
    if last is not None and last.tool == "lookup":
        head = "Here is what the catalog says:\n" if not last.observation.startswith("error:") else ""
        return head + last.observation
    if not items:
        why = f" ({errors[0][7:]})" if errors else ""
        return f"I could not find anything that fits{why}. Could you loosen the request a little?"
    intro = "Here are my picks:" if not errors else "Part of the request could not be applied; here are my picks:"
    return intro + "\n" + last.observation
