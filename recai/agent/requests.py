"""Synthetic user requests with their gold plans, generated from templates over a catalog.

Each request comes from a structured intent (a `Request`: categories, years, seed items, ...);
its gold plan is `plan_for(intent)`, the canonical plan the demo bank and the planners follow. The
same generator feeds the demo bank, the planner's tool-learning data and the held-out evaluation
set; `split` keeps their items apart: training and demos use items whose index is not 0 mod 5,
evaluation only items whose index is, so a tuned planner is judged on titles it never saw.
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass

from recai.agent.plan import Step
from recai.agent.rule_planner import plan_for
from recai.agent.understand import Request
from recai.text.normalize import unmove_article

# Themes for description requests. Like items, they are split: every fifth theme is for evaluation
# only, so a tuned planner is judged on descriptions it never saw. Their words are outside the rule
# reader's filler and category words, so the request text carries exactly the gold description.
THEMES = ["time travel", "robots", "a heist", "space exploration", "aliens", "revenge", "coming of age",
          "martial arts", "a serial killer", "zombies", "vampires", "high school", "a road trip", "survival",
          "a dystopian future", "superheroes", "dinosaurs", "pirates", "boxing", "the mafia", "spies",
          "a haunted house", "artificial intelligence", "friendship", "a prison escape", "a courtroom trial",
          "dragons", "a treasure hunt", "a rock band", "dancing", "a con artist", "a small town", "a shipwreck",
          "a bank robbery", "a kidnapping", "a submarine", "a plane crash", "a volcano", "an earthquake",
          "a pandemic", "a chess prodigy", "a chef", "a wedding", "a divorce", "a reunion", "twins",
          "a ghost", "witches", "werewolves", "giant sharks", "a talking dog", "horses", "a circus", "magicians",
          "a boarding school", "college students", "a summer camp", "baseball", "basketball", "surfing",
          "mountain climbing", "car racing", "a hacker", "video games", "a journalist", "a president",
          "an election", "lawyers", "doctors", "a hospital", "soldiers", "the ocean", "the desert", "the jungle",
          "an island", "the arctic", "the moon", "mars", "a time loop", "memory loss", "dreams",
          "a parallel universe", "clones", "mutants", "a cult", "a detective", "police officers",
          "a bounty hunter", "samurai", "ninjas", "gladiators", "knights", "a princess", "gangsters",
          "a lottery win", "a musician", "a painter", "a writer", "ballet", "a singing contest"]
CATEGORY_PHRASES = {"Comedy": ["comedies", "funny movies", "comedy films"], "Drama": ["dramas", "drama movies"],
                    "Thriller": ["thrillers", "thriller movies"], "Romance": ["romantic movies", "romances"],
                    "Action": ["action movies", "action films"], "Adventure": ["adventure movies", "adventures"],
                    "Crime": ["crime movies", "crime films"], "Horror": ["horror movies", "scary movies"],
                    "Sci-Fi": ["sci-fi movies", "science fiction films", "sci-fi"],
                    "Fantasy": ["fantasy movies", "fantasy films"], "Children": ["kids movies", "children's movies"],
                    "Mystery": ["mysteries", "mystery movies"], "Documentary": ["documentaries"],
                    "Animation": ["animated movies", "animation films"], "Musical": ["musicals"],
                    "War": ["war movies", "war films"], "Western": ["westerns"], "Film-Noir": ["film noir"]}
DECADES = {1950: ["the 50s", "the 1950s", "the fifties"], 1960: ["the 60s", "the 1960s", "the sixties"],
           1970: ["the 70s", "the 1970s", "the seventies"], 1980: ["the 80s", "the 1980s", "the eighties"],
           1990: ["the 90s", "the 1990s", "the nineties"], 2000: ["the 2000s"], 2010: ["the 2010s"]}


@dataclass
class Example:
    request: str
    plan: list[Step]
    intent: str  # which template family, for per-intent accuracy

    def to_dict(self) -> dict:
        return {"request": self.request, "plan": [s.to_dict() for s in self.plan], "intent": self.intent}


def spoken_title(title: str) -> str:
    """How a user writes a catalog title: "Matrix, The (1999)" -> "The Matrix"."""
    bare = re.sub(r"\s*\(\d{4}\)\s*$", "", title)
    bare = re.sub(r"\s*\((?:a\.k\.a\.|aka)[^)]*\)", "", bare)
    bare = re.sub(r"\s*\([^)]*\)\s*$", "", bare).strip()  # a foreign-language alternate title
    return unmove_article(bare) or bare


_TITLE_IN_SQL = re.compile(r"title = '((?:[^']|'')*)'")


def as_written(example: Example, domain) -> Example:
    """The example with every catalog title in its plan replaced by the words the request used for it
    ("Craft, The (1996)" -> "The Craft"), where those words resolve to the same item.

    Language-model planners are shown and taught this form: copying the user's words is learnable,
    while a catalog title's year and article order are facts a small model cannot know for unseen
    titles. The tools resolve names by fuzzy matching, so both forms run the same plan.
    """
    low = example.request.lower()

    def spoken(title: str) -> str:
        words = spoken_title(title)
        if words.lower() not in low:
            return title
        match = domain.matcher.match(words)
        return words if match is not None and match.title == title else title

    steps = []
    for step in example.plan:
        text = step.input
        if step.tool == "candidates" or (step.tool == "soft_filter" and text.startswith("like: ")):
            head = "like: " if step.tool == "soft_filter" else ""
            text = head + "; ".join(spoken(t) for t in text[len(head):].split("; "))
        elif step.tool == "lookup":
            text = _TITLE_IN_SQL.sub(lambda m: "title = '" + spoken(m.group(1).replace("''", "'")).replace("'", "''")
                                     + "'", text)
        steps.append(Step(step.tool, text))
    return Example(example.request, steps, example.intent)


class RequestGenerator:
    """Requests over `domain`; `split` is "train" or "eval" (which items may appear, see the module doc)."""

    def __init__(self, domain, split: str = "train", seed: int = 0, min_popularity: int = 20):
        if split not in ("train", "eval"):
            raise ValueError(f"split must be 'train' or 'eval', got {split!r}")
        self.domain, self.rng = domain, random.Random(f"{seed}-{split}")
        pop = domain.popularity
        wanted = (lambda i: i % 5 == 0) if split == "eval" else (lambda i: i % 5 != 0)
        # Well-known items only: users name movies they have heard of, and the titles must be unambiguous.
        spoken = {}
        for i in range(domain.n_items):
            if float(pop[i]) >= min_popularity and wanted(i):
                spoken.setdefault(spoken_title(domain.catalog.titles[i]).lower(), []).append(i)
        unique = sorted(v[0] for v in spoken.values() if len(v) == 1)
        matches = domain.matcher.match_many([spoken_title(domain.catalog.titles[i]) for i in unique]) if unique else []
        self.items = [i for i, m in zip(unique, matches) if m is not None and m.index == i]
        if len(self.items) < 10:
            raise ValueError(f"only {len(self.items)} usable items in the {split} split; lower min_popularity")
        present = {v for vs in domain.item_categories for v in vs}
        self.categories = [c for c in CATEGORY_PHRASES if c in present]
        self.themes = [t for n, t in enumerate(THEMES) if (n % 5 == 0) == (split == "eval")]
        self.families = [self._similar, self._category, self._similar_constrained, self._question,
                         self._candidates, self._description, self._popular]

    def examples(self, n: int) -> list[Example]:
        """n requests cycling through the template families, with no repeated request text."""
        out, seen = [], set()
        while len(out) < n:
            family = self.families[len(out) % len(self.families)]
            for _ in range(50):
                ex = family()
                if ex.request not in seen:
                    seen.add(ex.request)
                    out.append(ex)
                    break
            else:
                raise ValueError(f"the {family.__name__} templates ran out of distinct requests")
        return out

    # ---- template families -------------------------------------------------------------------
    def _pick(self, k: int = 1) -> list[int]:
        return self.rng.sample(self.items, k)

    def _name(self, i: int) -> str:
        return spoken_title(self.domain.catalog.titles[i])

    def _example(self, text: str, req: Request, intent: str) -> Example:
        return Example(text, plan_for(req, self.domain), intent)

    def _similar(self) -> Example:
        (i,) = self._pick()
        t = self._name(i)
        text = self.rng.choice([f"I loved {t}, can you recommend something similar?", f"Movies like {t} please",
                                f"Something in the style of {t}?", f"I'm a big fan of {t}. What else would I enjoy?",
                                f"Recommend me films similar to {t}", f"I really enjoyed {t}. Any suggestions?",
                                f"What should I watch after {t}? Something like it.",
                                f"Give me movies along the lines of {t}"])
        return self._example(text, Request(similar_to=[i]), "similar")

    def _decade(self, req: Request) -> str:
        start = self.rng.choice(list(DECADES))
        req.year_min, req.year_max = start, start + 9
        return self.rng.choice(DECADES[start])

    def _category(self) -> Example:
        cat = self.rng.choice(self.categories)
        phrase = self.rng.choice(CATEGORY_PHRASES[cat])
        req = Request(want_categories=[cat])
        kind = self.rng.randrange(4)
        if kind == 0:
            when = self._decade(req)
            text = self.rng.choice([f"Any {phrase} from {when}?", f"Recommend {phrase} from {when}",
                                    f"I'm looking for {phrase} from {when}"])
        elif kind == 1:
            avoid = self.rng.choice([c for c in self.categories if c != cat])
            req.avoid_categories = [avoid]
            other = self.rng.choice(CATEGORY_PHRASES[avoid])
            text = self.rng.choice([f"Show me {phrase} but no {other}", f"I want {phrase}, nothing like {other}",
                                    f"Some {phrase} without {other} please"])
        elif kind == 2:
            req.min_rating = 4.0
            text = self.rng.choice([f"What are some highly rated {phrase}?", f"Best rated {phrase} please",
                                    f"Recommend critically acclaimed {phrase}"])
        else:
            year = self.rng.choice([1980, 1985, 1990, 1995, 2000, 2005, 2010])
            req.year_min = year + 1
            text = self.rng.choice([f"{phrase.capitalize()} made after {year}", f"Any {phrase} released after {year}?"])
        return self._example(text, req, "category")

    def _similar_constrained(self) -> Example:
        (i,) = self._pick()
        t = self._name(i)
        req = Request(similar_to=[i])
        if self.rng.random() < 0.5:
            when = self._decade(req)
            text = self.rng.choice([f"Something like {t} but from {when}", f"Movies similar to {t} from {when}"])
        else:
            cat = self.rng.choice(self.categories)
            req.avoid_categories = [cat]
            other = self.rng.choice(CATEGORY_PHRASES[cat])
            text = self.rng.choice([f"Films like {t}, but no {other}", f"Similar to {t} without {other} please"])
        return self._example(text, req, "similar+filter")

    def _question(self) -> Example:
        (i,) = self._pick()
        t = self._name(i)
        kind = self.rng.choice(["year", "genres", "rating", "about"])
        text = self.rng.choice({
            "year": [f"What year was {t} released?", f"When did {t} come out?", f"Which year is {t} from?"],
            "genres": [f"What genre is {t}?", f"What kind of movie is {t}?", f"What genres does {t} have?"],
            "rating": [f"How well rated is {t}?", f"What is the rating of {t}?", f"How popular is {t}?"],
            "about": [f"Tell me about {t}", f"Can you give me info about {t}?"]}[kind])
        return self._example(text, Request(question=kind, question_item=i), "question")

    def _candidates(self) -> Example:
        items = self._pick(self.rng.choice([2, 3]))
        names = [self._name(i) for i in items]
        listed = f"{names[0]} or {names[1]}" if len(names) == 2 else f"{names[0]}, {names[1]} or {names[2]}"
        text = self.rng.choice([f"Which of {listed} should I watch tonight?", f"Among {listed}, which would I like most?",
                                f"Help me choose from {listed}"])
        return self._example(text, Request(candidates=items), "candidates")

    def _description(self) -> Example:
        theme = self.rng.choice(self.themes)
        text = self.rng.choice([f"I want a movie about {theme}", f"Any good films about {theme}?",
                                f"Recommend something about {theme}", f"Looking for a story about {theme}",
                                f"Find me a film about {theme}", f"Suggest a movie about {theme}",
                                f"Something about {theme} please", f"I'd like to watch a movie about {theme}",
                                f"Can you recommend a film about {theme}?"])
        words = " ".join(w for w in re.findall(r"[a-z]+", theme) if w not in ("a", "the") and len(w) > 2)
        return self._example(text, Request(description=words), "description")

    def _popular(self) -> Example:
        cat = self.rng.choice(self.categories)
        phrase = self.rng.choice(CATEGORY_PHRASES[cat])
        req = Request(want_categories=[cat], popular=True)
        if self.rng.random() < 0.3:
            req.diverse, extra = True, " with some variety"
        else:
            extra = ""
        text = self.rng.choice([f"What are the most popular {phrase}{extra}?", f"Popular {phrase}{extra} please",
                                f"Show me {phrase} everyone has seen{extra}", f"I want popular {phrase}{extra}",
                                f"Recommend some popular {phrase}{extra}", f"The most watched {phrase}{extra} please",
                                f"Can you suggest popular {phrase}{extra}?", f"Which {phrase} has everyone seen{extra}?"])
        return self._example(text, req, "popular")
