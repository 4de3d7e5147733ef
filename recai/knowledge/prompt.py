"""The Knowledge Plugin: knowledge for one user and candidate list, chosen within a token budget,
written into a ranking prompt.

    plugin = KnowledgePlugin(catalog, attributes=AttributeFacts(catalog),
                             item_cf=ItemCFFacts(catalog, CoOccurrence(train)),
                             user_cf=UserCFFacts(catalog, sasrec), kg=KGFacts(graph),
                             counter=TokenCounter(tokenizer), budget=256)
    p = plugin.prompt(history, candidates, kinds=("attributes", "kg"))
    reply = llm.chat(p.messages)
    ranked = p.ranked(reply)           # catalog indices, best first

Input the plugin cannot use degrades the prompt instead of failing it, and the prompt says so:
candidates or history items not in the catalog are left out (and named in `notes`), a user with
no history gets a prompt without the knowledge that needs one, and a requested kind that finds
nothing (no graph path, say) is mentioned in the knowledge block.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from recai.knowledge.facts import KINDS, TokenCounter
from recai.knowledge.parse import parse_ranking
from recai.knowledge.select import Selection, select

SYSTEM = ("You are a recommender system. You rank candidate {noun}s for a user from what they watched, "
          "your own knowledge and the facts you are given.")
EMPTY = {"item_cf": "No other users watched these candidates together with your {noun}s.",
         "user_cf": "The recommender has no prediction for these candidates.",
         "kg": "No knowledge-graph path links your {noun}s to these candidates.",
         "attributes": "The catalog has no attributes for these candidates."}
NEEDS_HISTORY = ("item_cf", "user_cf", "kg")


@dataclass
class RankingPrompt:
    messages: list[dict]
    candidates: list[int]  # catalog indices in prompt order
    titles: list[str]  # as shown
    selection: Selection
    notes: list[str] = field(default_factory=list)  # what was left out of the prompt, and why

    def ranked(self, reply: str) -> list[int]:
        """Catalog indices of every candidate, best first, as the reply ranks them (see `parse`)."""
        return [self.candidates[p] for p in parse_ranking(reply, self.titles).order]


class KnowledgePlugin:
    """Extractors (each optional; anything with `facts(history, candidates) -> [Fact]`), a token
    counter for the target model, and the knowledge budget in tokens."""

    def __init__(self, catalog, *, attributes=None, item_cf=None, user_cf=None, kg=None,
                 counter: TokenCounter | None = None, budget: int = 256, history_len: int = 10,
                 per_item: int = 2, top: int = 10, noun: str = "movie"):
        if budget < 0:
            raise ValueError(f"budget must be >= 0 tokens, got {budget}")
        self.catalog, self.titles = catalog, catalog.display_titles()
        self.extractors = {"attributes": attributes, "item_cf": item_cf, "user_cf": user_cf, "kg": kg}
        self.counter = counter or TokenCounter()
        self.budget, self.history_len, self.per_item, self.top, self.noun = budget, history_len, per_item, top, noun

    def available(self) -> list[str]:
        return [k for k in KINDS if self.extractors[k] is not None]

    def _known(self, keys, what: str, notes: list[str]) -> list[int]:
        known, unknown = [], []
        for key in keys:
            idx = key if isinstance(key, int) and 0 <= key < len(self.catalog) else \
                self.catalog.get_index(key) if isinstance(key, str) else None
            (known if idx is not None else unknown).append(key if idx is None else int(idx))
        if unknown:
            shown = ", ".join(repr(u) for u in unknown[:5]) + (" ..." if len(unknown) > 5 else "")
            notes.append(f"left out {len(unknown)} {what} not in the catalog: {shown}")
        return known

    def knowledge(self, history: list[int], candidates: list[int], kinds=None) -> Selection:
        """The selected facts for this user and candidate list (catalog indices); kinds: which
        (default: every kind the plugin has an extractor for)."""
        kinds = self.available() if kinds is None else kinds
        unknown = [k for k in kinds if k not in KINDS]
        if unknown:
            raise ValueError(f"unknown knowledge kinds {unknown}; choose from {', '.join(KINDS)}")
        facts, empty = [], []
        for kind in kinds:
            extractor = self.extractors[kind]
            if extractor is None:
                raise ValueError(f"knowledge kind {kind!r} was asked for but the plugin has no {kind} extractor "
                                 f"(it has: {', '.join(self.available()) or 'none'})")
            if kind in NEEDS_HISTORY and not history:
                continue
            found = extractor.facts(history, candidates)
            if not found:
                empty.append(EMPTY[kind].format(noun=self.noun))
            facts += found
        return select(facts, self.budget, self.counter, empty, self.per_item)

    def prompt(self, history, candidates, kinds=None) -> RankingPrompt:
        """The ranking prompt for `history` (oldest first) and `candidates`: catalog indices or item
        ids; either may hold entries the catalog lacks (left out, noted). kinds as in `knowledge`."""
        kinds = self.available() if kinds is None else kinds
        notes: list[str] = []
        history = self._known(list(history), "history items", notes)[-self.history_len:]
        candidates = list(dict.fromkeys(self._known(list(candidates), "candidates", notes)))
        titles = [self.titles[c] for c in candidates]
        selection = self.knowledge(history, candidates, kinds) if candidates else Selection()
        noun = self.noun
        if history:
            seen = "; ".join(self.titles[h] for h in history)
            parts = [f"I watched these {noun}s, oldest first: {seen}."]
        else:
            parts = [f"Nothing is known yet about which {noun}s I watched."]
            if any(k in NEEDS_HISTORY for k in kinds):
                notes.append("no history: knowledge that needs one (co-watching, recommender predictions, "
                             "graph paths) is left out")
        if selection.facts or selection.notes:
            parts.append("Facts that may help:\n" + selection.text)
        parts.append("Candidates:\n" + ("\n".join(f"- {t}" for t in titles) if titles else
                                         f"(none of the given candidates is in the catalog)"))
        k = min(self.top, len(titles))
        parts.append(f"Rank the candidates from the {noun} I am most likely to watch next to the least likely. "
                     f"Answer with a numbered list of the {k} best candidates, titles exactly as written above, "
                     "and nothing else.")
        messages = [{"role": "system", "content": SYSTEM.format(noun=noun)},
                    {"role": "user", "content": "\n\n".join(parts)}]
        return RankingPrompt(messages, candidates, titles, selection, notes)
