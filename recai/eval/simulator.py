"""A simulated user with a hidden target item, for conversational recommenders.

The user has a real history and a target they have not told anyone about (their held-out next
item). Turn by turn they reveal more about it, restating everything revealed so far, as people do
when a recommender misses: turn 1 names an item they liked from their history; later turns add the
target's categories one at a time, then its decade, then whether it is a well-rated or a popular
pick. The conversation succeeds at the first turn whose recommendations contain the target.
Everything is rule-based and seeded, so two runs ask the same questions.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field

CATEGORY_NOUNS = {"Comedy": "comedy", "Drama": "drama", "Thriller": "thriller", "Romance": "romance",
                  "Action": "action movie", "Adventure": "adventure", "Crime": "crime movie", "Horror": "horror movie",
                  "Sci-Fi": "sci-fi movie", "Fantasy": "fantasy movie", "Children": "kids movie",
                  "Mystery": "mystery", "Documentary": "documentary", "Animation": "animated movie",
                  "Musical": "musical", "War": "war movie", "Western": "western", "Film-Noir": "film noir"}


@dataclass
class SimulatedUser:
    history: list[int]  # catalog indices, oldest first
    target: int
    liked: int  # the history item the user names first
    reveals: list[str] = field(default_factory=list)  # attribute phrases, in the order they are told

    def message(self, turn: int, liked_title: str) -> str:
        """What the user says at turn 0, 1, ...: the liked item, then the first `turn` reveals."""
        parts = [f"I liked {liked_title}."]
        told = self.reveals[:turn]
        if told:
            parts.append("I'm looking for " + " ".join(told) + ".")
        else:
            parts.append("What should I watch next?")
        return " ".join(parts)


def make_user(catalog, history: list[int], target: int, popularity, rng: random.Random) -> SimulatedUser:
    """A user for one (history, target) pair: the target's categories, decade and standing as reveals."""
    item = catalog.item(int(target))
    genres = [g for g in (item.get("genres") or []) if g in CATEGORY_NOUNS]
    rng.shuffle(genres)
    reveals = []
    if genres:
        reveals.append(("a " if CATEGORY_NOUNS[genres[0]][0] not in "aeiou" else "an ") + CATEGORY_NOUNS[genres[0]])
    for g in genres[1:3]:
        reveals.append(f"with some {CATEGORY_NOUNS[g].replace(' movie', '')}")
    year = item.get("year")
    if year:
        reveals.append(f"from the {year // 10 * 10}s")
    rating = item.get("avg_rating")
    if rating is not None and rating >= 4.0:
        reveals.append("that is highly rated")
    elif float(popularity[int(target)]) >= 50:
        reveals.append("that is popular")
    liked = rng.choice(history[-10:]) if history else target
    return SimulatedUser(list(history), int(target), int(liked), reveals)


class LLMVoice:
    """An LLM-backed simulated user: the rules still decide what is revealed each turn (so the target
    stays hidden and runs stay comparable); the model rewrites each message in its own words.

    Greedy decoding keeps it reproducible for a given model. A reply that drops the liked title
    (small models sometimes do) falls back to the rule message, so the facts always reach the agent.
    """

    PROMPT = ("Rewrite this message to a movie recommender as a casual chat message from a user. Keep every "
              "movie title, genre and decade; add nothing else. Reply with the message only.\n\nMessage: {message}")

    def __init__(self, llm, max_tokens: int = 60):
        self.llm, self.max_tokens = llm, max_tokens

    def say(self, rule_message: str, must_keep: str) -> str:
        from recai.errors import LLMError

        try:
            text = self.llm.chat([{"role": "user", "content": self.PROMPT.format(message=rule_message)}],
                                 max_tokens=self.max_tokens, temperature=0.0, stop=["\n\n"])
        except LLMError:
            return rule_message
        text = " ".join(text.split()).strip('"')
        return text if must_keep.lower() in text.lower() else rule_message
