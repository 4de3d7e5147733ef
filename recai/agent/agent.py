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
from typing import Callable

from recai.agent.answer import grounded_answer, lead_prompt, write_lead
from recai.agent.memory import DialogueMemory, extractive_summary, llm_summarizer
from recai.agent.plan import MAX_STEPS, Step
from recai.agent.rule_planner import RulePlanner, plan_for
from recai.agent.sql_snap import SqlSnapper
from recai.agent.state import CandidateBus, UserProfile
from recai.agent.tools import MAX_INPUT_CHARS, TOOLS, ToolContext
from recai.agent.understand import RequestReader
from recai.errors import LLMError

MAX_MESSAGE_CHARS = 2000  # longer messages are cut (and the reply says so): a chat turn, not a document
SHOWN = 5  # items in an answer


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
        memory_tokens: the dialogue window's budget; memory_summary: how exchanges leaving it are
        kept ("extractive": the user's requests; "llm": a sentence from the model; "none": dropped).
    """

    def __init__(self, domain, llm=None, planner=None, history=(), memory_tokens: int = 1024,
                 answer_tokens: int = 48, memory_summary: str = "extractive"):
        self.domain, self.llm = domain, llm
        self.planner = planner or RulePlanner(domain)
        self.reader = getattr(self.planner, "reader", None) or RequestReader(domain)
        self.profile = UserProfile()
        self.history = [int(i) for i in history]
        summarizers = {"extractive": extractive_summary, "none": None}
        if llm is not None:
            summarizers["llm"] = llm_summarizer(llm)
        if memory_summary not in summarizers:
            raise ValueError(f"memory_summary must be one of {sorted(summarizers)}, got {memory_summary!r}"
                             + (" ('llm' needs an llm)" if memory_summary == "llm" else ""))
        self.memory = DialogueMemory(memory_tokens, getattr(llm, "count_tokens", None), summarizers[memory_summary])
        self.answer_tokens = answer_tokens
        self._tool_ctx = ToolContext(domain, self.profile, SqlSnapper(domain.catalog, domain.matcher), self.history)

    def turn(self, message: str, on_text: Callable[[str], None] | None = None) -> Turn:
        """One exchange. on_text, if given, receives the reply in pieces as it is written (their
        concatenation is `Turn.reply`), so a chat front end can show it while the model runs."""
        start = time.monotonic()
        notes = []
        if not isinstance(message, str) or not message.strip():
            reply = "Tell me what you are in the mood for, or a movie you liked."
            if on_text is not None:
                on_text(reply)
            return self._canned(message if isinstance(message, str) else "", start, reply)
        message = " ".join(message.split())
        if len(message) > MAX_MESSAGE_CHARS:
            message = message[:MAX_MESSAGE_CHARS]
            notes.append(f"the message was cut to its first {MAX_MESSAGE_CHARS} characters")
        request = self.reader.read(message)  # read once: the profile, the rule planner and the fallback share it
        self._update_profile(message, request)
        plan = self._plan(message, request, notes)
        bus = CandidateBus(self.domain.n_items)
        trace = [self._run(step, bus) for step in plan]
        if not plan or plan[-1].tool not in ("map", "lookup"):
            trace.append(self._run(Step("map", str(SHOWN)), bus))
        items = bus.pool()[:SHOWN] if trace[-1].tool == "map" else []
        reply = self._answer(message, trace, items, notes, on_text)
        self.memory.add(message, reply)
        titles = [self.domain.catalog.titles[i] for i in items]
        return Turn(message, plan, trace, reply, items, titles, getattr(self.planner, "name", "custom"),
                    time.monotonic() - start, notes)

    # ---- steps -------------------------------------------------------------------------------
    def _update_profile(self, message: str, req) -> None:
        for i in req.liked:
            self.profile.like_item(i)
        for i in req.disliked:
            self.profile.dislike_item(i)
        strong = re.search(r"\b(hate|dislike|can't stand|cannot stand|don't like|do not like|never|avoid|rather not|"
                           r"no more)\b", message, re.I)
        if strong:
            for c in req.avoid_categories:
                self.profile.dislike_category(c)
        if re.search(r"\bi (?:really )?(?:love|like|enjoy|adore)\b", message, re.I):
            for c in req.want_categories:
                self.profile.like_category(c)

    def _plan(self, message: str, request, notes: list[str]) -> list[Step]:
        context = {"request": request, "profile": self.profile.to_text(self.domain.catalog.titles),
                   "dialogue": self.memory.messages(), "summary": self.memory.summary}
        try:
            plan = self.planner.plan(message, context)
        except (ValueError, LLMError) as e:  # a bad plan or an unreachable brain: fall back, say so
            notes.append(f"planner failed ({e}); used the rule-based planner")
            plan = plan_for(request, self.domain)
        return list(plan)[:MAX_STEPS]

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

    def _answer(self, message: str, trace: list[TraceEntry], items: list[int], notes: list[str],
                on_text: Callable[[str], None] | None) -> str:
        """The model's short lead (streamed to on_text) over the grounded tool results."""
        intro, body = grounded_answer(trace, items)
        lead = ""
        prompt = lead_prompt(message, trace, items, self.domain.catalog.titles) if self.llm is not None else None
        if prompt is not None:
            try:
                lead = write_lead(self.llm, prompt, self.answer_tokens, on_text)
            except LLMError as e:
                notes.append(f"the language model failed ({e}); answered from the tool results")
        if not lead and on_text is not None:
            on_text(intro)
        tail = f"\n{body}" if body else ""
        if on_text is not None and tail:
            on_text(tail)
        return (lead or intro) + tail

    def _canned(self, message: str, start: float, reply: str) -> Turn:
        return Turn(message, [], [], reply, [], [], "none", time.monotonic() - start, ["empty message"])
