"""Reading a request without a language model: categories, years, ratings, titles, likes and dislikes.

The rule-based planner and the profile updater both read what `read_request` finds. The rules
are plain regular expressions over a vocabulary taken from the catalog itself (its category values
and titles), so they carry over to another domain with the same layout.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

# Common ways to name a category, mapped to the value they mean (used only where the value exists).
CATEGORY_WORDS = {
    "comedies": "Comedy", "funny": "Comedy", "comedic": "Comedy", "romantic": "Romance", "romances": "Romance",
    "scary": "Horror", "horror": "Horror", "sci fi": "Sci-Fi", "scifi": "Sci-Fi", "science fiction": "Sci-Fi",
    "sci-fi": "Sci-Fi", "kids": "Children", "family": "Children", "children's": "Children",
    "animated": "Animation", "cartoons": "Animation", "cartoon": "Animation", "anime": "Animation",
    "mysteries": "Mystery", "documentaries": "Documentary", "docs": "Documentary", "musicals": "Musical",
    "westerns": "Western", "noir": "Film-Noir", "film noir": "Film-Noir", "thrillers": "Thriller",
    "dramas": "Drama", "dramatic": "Drama", "war": "War", "crime": "Crime", "criminal": "Crime",
    "adventures": "Adventure", "action": "Action", "fantasy": "Fantasy",
}
NUMBER_WORDS = {"twenties": 1920, "thirties": 1930, "forties": 1940, "fifties": 1950, "sixties": 1960,
                "seventies": 1970, "eighties": 1980, "nineties": 1990}
_NEG = r"(?:no|not|without|except|nothing|avoid|hate|dislike|can't stand|cannot stand|skip|never|don't want|do not want|not into|none of the|anything but)"
_LIKE_CUES = r"(?:i (?:really |just )?(?:liked|loved|enjoyed|adored)|i (?:really )?(?:like|love|enjoy)|my favou?rite (?:movie |film )?(?:is|was)|i'm a (?:big )?fan of|big fan of)"
_DISLIKE_CUES = r"(?:i (?:really )?(?:hated|disliked|didn't like|did not like|couldn't stand)|i (?:really )?(?:hate|dislike|don't like|do not like))"
_SIMILAR_CUES = r"(?:similar to|like|such as|watch after|in the style of|along the lines of|same vibe as|reminiscent of|close to)"
_PRONOUNS = {"it", "this", "that", "them", "those", "these", "one", "ones", "me", "you"}
_BOUNDARY = re.compile(r",|\s(?:but|and|or|that|which|please|with|without|from|made|released|since|after|before|"
                       r"in the|for|so|because|too|any|anything|something|can|could|what|is|was)\b", re.I)
_INFO = re.compile(r"\b(what year|which year|when (?:was|did|came)|released|how (?:well )?(?:is|was) .* rated|"
                   r"rating of|what (?:genre|genres|kind of movie|type of movie|category)|is .* (?:a|an) \w+ (?:movie|film)\?|"
                   r"tell me about|what is .* about|info(?:rmation)? (?:on|about)|how popular)\b", re.I)


@dataclass
class Request:
    """What a message asks for; each list holds catalog category values or item indices."""
    want_categories: list[str] = field(default_factory=list)
    avoid_categories: list[str] = field(default_factory=list)
    year_min: int | None = None
    year_max: int | None = None
    min_rating: float | None = None
    popular: bool = False
    diverse: bool = False
    liked: list[int] = field(default_factory=list)  # items the user says they like
    disliked: list[int] = field(default_factory=list)
    similar_to: list[int] = field(default_factory=list)  # seed items for "like X"
    candidates: list[int] = field(default_factory=list)  # "which of X, Y or Z"
    question: str | None = None  # an information request: "year" | "genres" | "rating" | "about"
    question_item: int | None = None
    description: str = ""  # what is left to match by meaning ("about time travel")


class RequestReader:
    """Reads requests for one domain: its category vocabulary and its title matcher."""

    def __init__(self, domain):
        self.domain = domain
        values = sorted({v for vs in domain.item_categories for v in vs})
        words: dict[str, str] = {}
        for v in values:
            low = v.lower()
            for form in (low, low + "s", low + "es", low[:-1] + "ies" if low.endswith("y") else low):
                words[form] = v
        words.update({k: v for k, v in CATEGORY_WORDS.items() if v in values})
        self.category_words = words
        alternation = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
        self._category = re.compile(rf"\b({alternation})\b", re.I) if words else None
        years = [y for y in domain.catalog.values("year") if y] if "year" in domain.catalog.schema else []
        self.latest_year = max(years) if years else None

    def read(self, message: str) -> Request:
        text = " ".join(message.split())
        req = Request()
        low = text.lower()
        rest = self._titles(text, req)
        self._question(text, low, req)
        self._categories(rest, req)
        self._years(rest.lower(), req)
        if re.search(r"\b(highly|well|best|top)[ -]rated\b|\bacclaimed\b|\bcritically\b|\bmasterpieces?\b", low):
            req.min_rating = 4.0
        req.popular = bool(re.search(r"\b(popular|most watched|blockbusters?|everyone (?:has )?(?:seen|watched)|"
                                     r"hits?|trending|crowd[- ]pleasers?)\b", low))
        req.diverse = bool(re.search(r"\b(variety|varied|diverse|diversity|mix of|different kinds|eclectic)\b", low))
        plain = self._category.sub(" ", rest) if self._category is not None else rest
        req.description = _description(plain)
        return req

    # ---- pieces ------------------------------------------------------------------------------
    def _titles(self, text: str, req: Request) -> str:
        """Find titles after cue phrases and in quotes; return the text with them cut out."""
        spans = []

        def take(cue, bucket):
            for m in re.finditer(cue + r"\s+", text, re.I):
                start = m.end()
                # "I loved The Matrix and Inception": after each title, a joined one may follow.
                while (found := self._title_at(text, start)) is not None:
                    index, end = found
                    if index not in bucket:
                        bucket.append(index)
                    spans.append((start, end))
                    joined = re.match(r"\s*(?:,\s*(?:and\s+)?|and\s+|&\s+)", text[end:])
                    if joined is None:
                        break
                    start = end + joined.end()

        among = re.search(r"\b(?:which (?:one )?of|among|between|choose from|pick from|out of)\s+(?P<list>.+?)"
                          r"(?:[?.!]|\s(?:should|would|could|shall|to watch|for tonight|for me|is better)\b|$)",
                          text, re.I)
        if among:
            names = re.split(r",|;|\bor\b|\band\b", among.group("list"))
            for name in names:
                name = name.strip(" '\"")
                m = self.domain.matcher.match(name) if len(name) >= 2 else None
                if m is not None and m.score >= 0.85 and m.index not in req.candidates:
                    req.candidates.append(m.index)
            if len(req.candidates) >= 2:
                spans.append(among.span("list"))
            else:
                req.candidates = []
        take(_DISLIKE_CUES, req.disliked)
        take(_LIKE_CUES, req.liked)
        take(rf"\b{_SIMILAR_CUES}", req.similar_to)
        for m in re.finditer(r"[\"“](?P<t>[^\"”]+)[\"”]", text):
            match = self.domain.matcher.match(m.group("t"))
            if match is not None and match.score >= 0.85 and match.index not in req.similar_to:
                req.similar_to.append(match.index)
                spans.append(m.span("t"))
        req.similar_to = [i for i in req.similar_to if i not in req.disliked and i not in req.candidates]
        out, last = [], 0
        for a, b in sorted(spans):
            if a >= last:
                out.append(text[last:a])
                last = b
        out.append(text[last:])
        return " ".join(out)

    def _title_at(self, text: str, start: int) -> tuple[int, int] | None:
        """The item named from `start` on, and where its name ends: spans ending at a comma, a
        joining word or the end of the sentence are tried longest first, so titles with commas or
        "or" in them ("Honey, I Shrunk the Kids") are found whole."""
        stop = re.search(r"[.!?;]|$", text[start:]).start() + start
        ends = sorted({stop, *(m.start() + start for m in _BOUNDARY.finditer(text[start:stop]))}, reverse=True)
        spans = [(start, e) for e in ends if e - start >= 2 and text[start:e].strip().lower() not in _PRONOUNS]
        if not spans:
            return None
        matches = self.domain.matcher.match_many([text[a:b].strip(" '\"") for a, b in spans])
        best = None
        for (a, b), m in zip(spans, matches):
            if m is None or m.score < 0.85:
                continue
            if m.score >= 0.95:
                return m.index, b
            if best is None or m.score > best[0]:
                best = (m.score, m.index, b)
        return None if best is None else (best[1], best[2])

    def _question(self, text: str, low: str, req: Request) -> None:
        if not _INFO.search(text):
            return
        item = (req.similar_to or req.liked or [None])[0]
        if item is None:
            # "What kind of movie is Toys?": the title follows one of these words; try the last first.
            for m in reversed(list(re.finditer(r"\b(?:was|is|did|about|of|on)\s+", text, re.I))):
                name = re.sub(r"\s*(?:released|rated|come out|about|from|have)?\s*\?*\s*$", "", text[m.end():], flags=re.I)
                match = self.domain.matcher.match(name) if len(name) >= 2 else None
                if match is not None and match.score >= 0.8:
                    item = match.index
                    break
        if item is None:
            return
        req.question_item = item
        req.question = ("year" if re.search(r"year|when|released|come out|came out", low) else
                        "genres" if re.search(r"genre|kind of|type of|category", low) else
                        "rating" if re.search(r"rated|rating|popular", low) else "about")
        req.similar_to = [i for i in req.similar_to if i != item]
        req.liked = [i for i in req.liked if i != item]

    def _categories(self, text: str, req: Request) -> None:
        if self._category is None:
            return
        for m in self._category.finditer(text):
            value = self.category_words[m.group(1).lower()]
            before = text[max(0, m.start() - 40):m.start()].lower()
            # "no horror", "not too scary", "I hate westerns", "anything but dramas"
            negated = re.search(rf"\b{_NEG}\b(?:\s+\w+){{0,3}}\s*$", before) is not None
            target = req.avoid_categories if negated else req.want_categories
            if value not in req.want_categories and value not in req.avoid_categories:
                target.append(value)

    def _years(self, low: str, req: Request) -> None:
        decade = re.search(r"\b(?:the\s+)?(?:(19|20)(\d)0s|'?(\d)0s)\b", low)
        words = re.search(r"\b(" + "|".join(NUMBER_WORDS) + r")\b", low)
        if decade:
            start = int(decade.group(1) + decade.group(2) + "0") if decade.group(1) else 1900 + int(decade.group(3)) * 10
            if start < 1930 and not decade.group(1):
                start += 100  # "00s", "10s" mean this century
            req.year_min, req.year_max = start, start + 9
        elif words:
            start = NUMBER_WORDS[words.group(1)]
            req.year_min, req.year_max = start, start + 9
        for m in re.finditer(r"\b(after|since|newer than|later than|from|in|before|older than|earlier than|until|"
                             r"released in|made in|between)\s+(\d{4})(?:\s+and\s+(\d{4}))?\b", low):
            cue, year = m.group(1), int(m.group(2))
            if cue == "between" and m.group(3):
                req.year_min, req.year_max = year, int(m.group(3))
            elif cue in ("after", "newer than", "later than"):
                req.year_min = year + 1
            elif cue == "since":
                req.year_min = year
            elif cue in ("before", "older than", "earlier than"):
                req.year_max = year - 1
            elif cue == "until":
                req.year_max = year
            else:  # from / in / released in / made in
                req.year_min = req.year_max = year
        if self.latest_year and re.search(r"\b(recent|new|latest|newest|modern)\b", low) and req.year_min is None:
            req.year_min = self.latest_year - 5
        if re.search(r"\b(old|classic|vintage|golden age)\b", low) and req.year_max is None:
            req.year_max = 1979


_FILLER = set("""
i me my we you your a an the some any something anything movie movies film films show shows recommend recommendation
recommendations suggest suggestion suggestions please can could would will want wanna need looking look for find give
get watch watching tonight today to of and or but with about that which who is are was be it its this these those
in on at from by like similar such as more less really very just also too so some good great nice best top new
old recent popular highly well rated one ones what how do does any kind type sort similar other another maybe
perhaps thanks thank hi hello hey tell know see seen something there here am i'm im let lets let's mood feel
no not without except nothing avoid hate dislike don't skip never after since before between until than newer older
classic vintage latest newest modern variety varied diverse diversity mix different eclectic watched everyone hits hit
should shall tonight weekend evening night pick choose which rather prefer better help most has have style
enjoyed enjoy loved love liked critically acclaimed released made story stories suggestions rated rating fan big
else after ones kinds give show films everyone seen among rather though i'd i'll i've we'd you'd don't
anyway maybe perhaps actually really something anything somewhat little bit lot lots kind sort more less
""".split()) | set(NUMBER_WORDS)


def _description(rest: str) -> str:
    """Content words left after titles, categories, years and cue words: what to match by meaning."""
    words = re.findall(r"[a-zA-Z][a-zA-Z'-]+", rest.lower())
    kept = [w for w in words if w not in _FILLER and w not in CATEGORY_WORDS and len(w) > 2
            and not re.fullmatch(r"(19|20)\d\ds?|\d0s", w)]
    return " ".join(kept)
