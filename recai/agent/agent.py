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
from recai.agent.rule_planner import RulePlanner, plan_for
from recai.agent.sql_snap import SqlSnapper
from recai.agent.state import CandidateBus, UserProfile
from recai.agent.tools import MAX_INPUT_CHARS, TOOLS, ToolContext
from recai.agent.understand import RequestReader
from recai.errors import LLMError

MAX_MESSAGE_CHARS = 2000  # longer messages are cut (and the reply says so): a chat turn, not a document
SHOWN = 5  # items in an answer

ANSWER_SYSTEM = "You are a friendly movie recommender. Be brief and only talk about the movies you are given."


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
                 answer_tokens: int = 48):
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
        request = self.reader.read(message)  # read once: the profile, the rule planner and the fallback share it
        self._update_profile(message, request)
        plan = self._plan(message, request, notes)
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
                   "dialogue": self.memory.messages()}
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

    def _answer(self, message: str, trace: list[TraceEntry], items: list[int], notes: list[str]) -> str:
        """The model writes a short lead-in from the tool results; the grounded results follow it
        verbatim, so a small model's wording can never replace or invent the recommended items."""
        intro, body = grounded_answer(trace, items)
        lead = None
        if self.llm is not None:
            try:
                lead = self._llm_lead(message, trace, items) or None
            except LLMError as e:
                notes.append(f"the language model failed ({e}); answered from the tool results")
        head = lead or intro
        return f"{head}\n{body}" if body else head

    def _llm_lead(self, message: str, trace: list[TraceEntry], items: list[int]) -> str:
        """One or two sentences from the model. The prompt is kept plain (titles as people write them,
        no tool syntax): small models follow that far better than a dump of the trace."""
        from recai.agent.requests import spoken_title

        last = trace[-1] if trace else None
        if last is not None and last.tool == "lookup":
            facts = "; ".join(line for line in last.observation.splitlines()[1:4])
            ask = f"I asked: {message}\nThe catalog says: {facts}\nAnswer my question in one sentence."
        elif items:
            names = ", ".join(spoken_title(self.domain.catalog.titles[i]) for i in items[:3])
            ask = f"I asked: {message}\nYou found these movies for me: {names}.\nIn one sentence, tell me why I might enjoy them."
        else:
            return ""
        messages = [{"role": "system", "content": ANSWER_SYSTEM}, {"role": "user", "content": ask}]
        text = self.llm.chat(messages, max_tokens=self.answer_tokens, temperature=0.0, stop=["\n\n"]).strip()
        return _sentences(" ".join(text.split()), 2)

    def _canned(self, message: str, start: float, reply: str) -> Turn:
        return Turn(message, [], [], reply, [], [], "none", time.monotonic() - start, ["empty message"])


def grounded_answer(trace: list[TraceEntry], items: list[int]) -> tuple[str, str]:
    """(intro, body) of an answer without a language model: the body is the lookup rows or the map
    of recommended items, verbatim from the tools ("" when there is nothing to show)."""
    last = trace[-1] if trace else None
    errors = [t.observation for t in trace if t.observation.startswith("error:")]
    if last is not None and last.tool == "lookup":
        if last.observation.startswith("error:"):
            return f"I could not look that up ({last.observation[7:]}).", ""
        return "Here is what the catalog says:", last.observation
    if not items:
        why = f" ({errors[0][7:]})" if errors else ""
        return f"I could not find anything that fits{why}. Could you loosen the request a little?", ""
    intro = "Here are my picks:" if not errors else "Part of the request could not be applied; here are my picks:"
    return intro, last.observation


def _sentences(text: str, n: int) -> str:
    """The first n sentences of text (a small model's reply often trails off mid-sentence after them)."""
    parts = re.split(r"(?<=[.!?])\s+", text)
    out = " ".join(parts[:n])
    return out if out.endswith((".", "!", "?")) or len(parts) <= n else out + "."
