"""The agent's answer: a short model-written lead over the tool results, which follow it verbatim.

A small model's wording can never replace or invent the recommended items: it only writes one or
two sentences in front of them. The lead can stream: pieces reach `on_text` as the model writes
them, and decoding stops as soon as the sentences are complete (the rest would be thrown away).
"""
from __future__ import annotations

import re
from typing import Callable

from recai.errors import LLMError

ANSWER_SYSTEM = "You are a friendly movie recommender. Be brief and only talk about the movies you are given."
LEAD_SENTENCES = 2


def grounded_answer(trace, items: list[int]) -> tuple[str, str]:
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


def lead_prompt(message: str, trace, items: list[int], titles: list[str]) -> list[dict] | None:
    """The chat messages asking for the lead, or None when there is nothing to talk about. The prompt
    is plain (titles as people write them, no tool syntax): small models follow that far better
    than a dump of the trace."""
    from recai.agent.requests import spoken_title

    last = trace[-1] if trace else None
    if last is not None and last.tool == "lookup":
        if last.observation.startswith("error:"):
            return None
        facts = "; ".join(line for line in last.observation.splitlines()[1:4])
        ask = f"I asked: {message}\nThe catalog says: {facts}\nAnswer my question in one sentence."
    elif items:
        names = ", ".join(spoken_title(titles[i]) for i in items[:3])
        ask = (f"I asked: {message}\nYou found these movies for me: {names}.\n"
               "In one sentence, tell me why I might enjoy them.")
    else:
        return None
    return [{"role": "system", "content": ANSWER_SYSTEM}, {"role": "user", "content": ask}]


def write_lead(llm, messages: list[dict], max_tokens: int, on_text: Callable[[str], None] | None = None) -> str:
    """The model's lead: its first LEAD_SENTENCES sentences, whitespace collapsed.

    With on_text, the lead is streamed: each piece goes out as soon as it cannot change any more
    (whitespace is held back until a word follows it), and generation stops at the last sentence's
    end. LLMError propagates; whatever was sent by then is returned, so the caller can keep the
    reply consistent with what the user saw.
    """
    stream = llm.stream_chat(messages, max_tokens=max_tokens, temperature=0.0, stop=["\n\n"])
    raw, sent = "", ""
    try:
        for piece in stream:
            raw += piece
            words = raw.split()
            if _complete(words):
                break
            if on_text is not None and words:
                ready = " ".join(words[:-1] if not raw[-1].isspace() else words)  # the last word may go on
                if len(ready) > len(sent):
                    on_text(ready[len(sent):])
                    sent = ready
    except LLMError:
        if sent:
            return sent
        raise
    finally:
        stream.close()
    lead = first_sentences(" ".join(raw.split()), LEAD_SENTENCES)
    if on_text is not None and lead.startswith(sent) and len(lead) > len(sent):
        on_text(lead[len(sent):])
    return lead if lead.startswith(sent) else sent


def _complete(words: list[str]) -> bool:
    """True once LEAD_SENTENCES sentences have ended and another word has begun after them."""
    ended = sum(1 for w in words[:-1] if w.endswith((".", "!", "?")))
    return ended >= LEAD_SENTENCES


def first_sentences(text: str, n: int) -> str:
    """The first n sentences of text (a small model's reply often trails off mid-sentence after them)."""
    parts = re.split(r"(?<=[.!?])\s+", text)
    out = " ".join(parts[:n])
    return out if out.endswith((".", "!", "?")) or len(parts) <= n or not out else out + "."
