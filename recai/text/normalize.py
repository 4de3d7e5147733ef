"""Title normalisation for fuzzy matching.

`fold` maps text to a canonical form: lower case, accents stripped (NFKD without combining marks),
apostrophes and dots dropped ("L.A." -> "la"), other punctuation turned into spaces, whitespace
collapsed. `parse_title` also understands catalog conventions: a trailing year "(1995)", alternate
titles in parentheses "(a.k.a. Se7en)", and articles moved to the end ("Matrix, The",
"Américain, L'", "Ciudad, La") which are put back in front.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# Articles that catalogs (MovieLens, IMDb) move behind a comma, in English, French, Spanish,
# Italian, German, Portuguese and the Scandinavian languages. Matched case-insensitively.
ARTICLES = frozenset("""
    the a an
    le la les l' un une
    el los las uno una
    il lo i gli
    der die das den ein eine
    det en de
""".split())

# Letters that NFKD does not decompose into a base letter plus accents.
_LETTERS = str.maketrans({
    "ß": "ss", "æ": "ae", "Æ": "ae", "œ": "oe", "Œ": "oe", "ø": "o", "Ø": "o", "ł": "l", "Ł": "l",
    "đ": "d", "Đ": "d", "ð": "d", "þ": "th", "Þ": "th", "ı": "i",
    "’": "'", "‘": "'", "`": "'", "´": "'", "&": " and ",
})
_JOINERS = re.compile(r"['.]")  # dropped, not spaced: "schindler's" -> "schindlers", "l.a." -> "la"
_SEPARATORS = re.compile(r"[\W_]+")  # any other run of non-letters/digits becomes one space
_YEAR = re.compile(r"\s*\(\s*(\d{4})\s*(?:[-–]\s*(?:\d{4})?\s*)?\)\s*$")  # "(1995)", "(2007-)", "(1975-1979)"
_PARENS = re.compile(r"\(([^()]*)\)")
_AKA = re.compile(r"^\s*(?:a\.?\s?k\.?\s?a\.?|also known as)\s+", re.IGNORECASE)
_TRAILING_WORD = re.compile(r"^(.*\S)\s*,\s*(\S+)\s*$")


def fold(text: str) -> str:
    """Canonical form of free text: "Amélie, L'été (1995)!" -> "amelie lete 1995"."""
    text = unicodedata.normalize("NFKD", text.translate(_LETTERS))
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    text = _SEPARATORS.sub(" ", _JOINERS.sub("", text))
    return " ".join(text.split())


def unmove_article(part: str) -> str:
    """Put a trailing article back in front: "Matrix, The" -> "The Matrix", "Américain, L'" -> "L'Américain".

    Only the words in `ARTICLES` move, so "Monsters, Inc." and "Paris, Texas" stay as they are.
    """
    m = _TRAILING_WORD.match(part)
    if m is None or m.group(2).translate(_LETTERS).casefold() not in ARTICLES:
        return part
    article, rest = m.group(2), m.group(1)
    return f"{article}{rest}" if article.endswith("'") else f"{article} {rest}"


@dataclass(frozen=True)
class ParsedTitle:
    """A title split into folded parts. `main` may be empty (e.g. the input was only "(1995)")."""

    main: str  # the title without its year and parenthesised parts, article in front
    alternates: tuple[str, ...]  # each parenthesised part, "a.k.a." removed, article in front
    year: int | None

    @property
    def full(self) -> str:
        """Main title and alternates in one string, as a query that spells them all is folded."""
        return " ".join((self.main,) + self.alternates).strip()


def parse_title(title: str) -> ParsedTitle:
    """Parse "City of Lost Children, The (Cité des enfants perdus, La) (1995)" into
    main "the city of lost children", alternates ("la cite des enfants perdus",) and year 1995."""
    year_match = _YEAR.search(title)
    year = int(year_match.group(1)) if year_match else None
    rest = title[:year_match.start()] if year_match else title
    main = fold(unmove_article(_PARENS.sub(" ", rest).strip()))
    alternates = []
    for part in _PARENS.findall(rest):
        alt = fold(unmove_article(_AKA.sub("", part).strip()))
        if alt and alt != main and alt not in alternates:
            alternates.append(alt)
    return ParsedTitle(main, tuple(alternates), year)
