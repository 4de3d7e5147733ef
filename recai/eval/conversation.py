"""Conversations with a simulated user who wants one hidden item, for at most `max_turns` turns.

The user's messages come from the rule-based simulator (`recai.eval.simulator`: a liked history item,
then the target's genres, decade and standing, one more each turn) or from an LLM playing the user
with RecLM-eval's brief (history, hidden target, never say its title). Every LLM turn is checked
against the rules — not empty, not too long, never naming the target — and regenerated with another
seed when it breaks one; after `retries` failures the rule-based message is used, so a weak
simulator model can slow a run but never leak the answer.

The recommender under test is anything with `reply(messages) -> str` (a chat model through
`ChatRecommender`, or the agent). A conversation succeeds at the first reply that names the target
(RecAI's title similarity >= 0.6); reported: recall (the share that succeed) and the mean number of
turns (a failed conversation counts `max_turns`).
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

from recai.errors import RecaiError
from recai.eval.scoring import answer_names
from recai.eval.titles import THRESHOLD, TrigramTfidf, clean

USER_BRIEF = ("You are a user chatting with a movie recommender. You have watched: {history}. You are looking for "
              "{target}, but you must never say its title. If the recommender suggests it, accept it. Otherwise "
              "refuse politely and describe what you want: {hints}. Write only your next message, one or two "
              "sentences.")
RECOMMENDER_SYSTEM = ("You are a movie recommender chatting with a user. Each time, recommend five movies as a "
                      "numbered list of titles with years, then ask one short question.")
MAX_CHARS = 400


@dataclass
class Conversation:
    success: bool
    turns: int
    transcript: list[dict] = field(default_factory=list)
    regenerations: int = 0
    fallbacks: int = 0


def rule_violations(message: str, target: str) -> list[str]:
    """What is wrong with a simulated user's message: empty, too long, or naming the target."""
    problems = []
    text = (message or "").strip()
    if not text:
        problems.append("empty")
    if len(text) > MAX_CHARS:
        problems.append("too long")
    name = clean(re.sub(r"\(\d{4}\)\s*$", "", target))
    if name and f" {name} " in f" {clean(text)} ":
        problems.append("names the target")
    return problems


class ChatRecommender:
    """A chat model as the recommender under test; it sees the whole conversation each turn."""

    def __init__(self, llm, max_tokens: int = 160):
        self.llm, self.max_tokens = llm, max_tokens

    def reply(self, messages: list[dict]) -> str:
        return self.llm.chat([{"role": "system", "content": RECOMMENDER_SYSTEM}] + messages,
                             max_tokens=self.max_tokens, temperature=0.0)


class LLMUser:
    """An LLM playing the user, checked by the rules every turn (see the module doc)."""

    def __init__(self, llm, retries: int = 2, max_tokens: int = 80):
        self.llm, self.retries, self.max_tokens = llm, retries, max_tokens

    def say(self, history: str, target: str, hints: str, messages: list[dict], fallback: str) -> tuple[str, int, bool]:
        """(message, regenerations, whether the rule message was used instead)."""
        from recai.errors import LLMError

        brief = USER_BRIEF.format(history=history, target=target, hints=hints)
        # The simulator sees the conversation with the roles swapped: it is the "assistant" here.
        flipped = [{"role": "assistant" if m["role"] == "user" else "user", "content": m["content"]} for m in messages]
        prompt = [{"role": "system", "content": brief}] + (flipped or [{"role": "user", "content": "Hello! What are "
                                                                        "you in the mood for?"}])
        for attempt in range(self.retries + 1):
            try:
                text = self.llm.chat(prompt, max_tokens=self.max_tokens, temperature=0.0 if attempt == 0 else 0.8)
            except LLMError:
                break
            text = " ".join((text or "").split())
            if not rule_violations(text, target):
                return text, attempt, False
        return fallback, self.retries, True


def converse(recommender, user_rules, target: str, tfidf: TrigramTfidf, history_text: str = "",
             llm_user: LLMUser | None = None, max_turns: int = 5, liked_title: str = "") -> Conversation:
    """One conversation. user_rules: a `recai.eval.simulator.SimulatedUser` (its rule messages)."""
    messages: list[dict] = []
    regenerations = fallbacks = 0
    for turn in range(max_turns):
        rule_message = user_rules.message(turn, liked_title)
        if llm_user is not None:
            hints = "; ".join(user_rules.reveals) or "something like what you watched"
            text, regen, fell_back = llm_user.say(history_text, target, hints, messages, rule_message)
            regenerations += regen
            fallbacks += fell_back
        else:
            text = rule_message
        messages.append({"role": "user", "content": text})
        try:
            reply = recommender.reply(list(messages))
        except (RecaiError, RuntimeError, ValueError) as e:  # a failing recommender loses its turn, not the run
            reply = f"(the recommender failed: {type(e).__name__}: {e})"
        messages.append({"role": "assistant", "content": reply})
        names = answer_names(reply)
        if names and bool((tfidf.similarity(names, [target])[:, 0] >= THRESHOLD).any()):
            return Conversation(True, turn + 1, messages, regenerations, fallbacks)
    return Conversation(False, max_turns, messages, regenerations, fallbacks)


def summarize(conversations: list[Conversation]) -> dict:
    n = max(len(conversations), 1)
    return {"conversations": len(conversations), "recall": sum(c.success for c in conversations) / n,
            "avg_turns": sum(c.turns for c in conversations) / n,
            "regenerations": sum(c.regenerations for c in conversations),
            "fallbacks": sum(c.fallbacks for c in conversations)}


def rule_user(catalog, history: list[int], target: int, popularity, seed: int = 0):
    """The rule-based simulated user for catalog indices (see `recai.eval.simulator.make_user`)."""
    from recai.eval.simulator import make_user

    return make_user(catalog, history, target, popularity, random.Random(seed))
