"""Model-written SQL made to fit the catalog: unknown column names and category values snapped to real ones.

Language models write `genre = 'comedy'` for a `genres` list whose value is "Comedy", or
`release_year` for `year`. Before such a query runs (still through the read-only path), each
identifier that names nothing is replaced by the closest column, and each string compared with a
category column (or a title) by the closest real value. Every change is reported, so the trace
shows what ran. Nothing is snapped that is not close: an unknown name is left for SQLite to refuse
with its own error.
"""
from __future__ import annotations

import difflib
import re

# SQL words and functions the agent's queries use; anything else that is not a column or table is a
# candidate for snapping.
_SQL_WORDS = set("""
select from where and or not in is null like glob between order by asc desc limit offset group having
distinct as on join left inner outer cross union all exists case when then else end with collate nocase
count sum avg min max lower upper length abs round coalesce ifnull substr instr replace trim json_each
json_extract cast integer real text true false escape
""".split())
_TOKEN = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|[A-Za-z_][A-Za-z0-9_]*|\s+|.", re.S)
# Names a model reaches for, and the column they mean (only used when that column exists).
SYNONYMS = {"genre": "genres", "category": "genres", "categories": "genres", "tag": "tags", "name": "title",
            "movie": "title", "release_year": "year", "released": "year", "release_date": "year",
            "rating": "avg_rating", "score": "avg_rating", "average_rating": "avg_rating",
            "views": "popularity", "count_ratings": "popularity", "num_ratings": "popularity"}


class SqlSnapper:
    """Knows the catalog's names and values; `snap(sql)` returns (fixed sql, list of changes)."""

    def __init__(self, catalog, matcher=None):
        self.catalog, self.matcher = catalog, matcher
        self.columns = {"idx", "id", "title", *catalog.schema}
        self.tables = {"items", *(a for a, kind in catalog.schema.items() if kind == "list")}
        self.values: dict[str, dict[str, str]] = {}  # column -> lower-cased value -> value
        for attr, kind in catalog.schema.items():
            if kind == "list":
                seen = {str(v) for vs in catalog.values(attr) if vs for v in vs}
                self.values[attr] = {v.lower(): v for v in sorted(seen)}
        # `value` is the element column of every list table: all their values together, the first
        # list attribute (the category, e.g. genres) winning where two spell a value differently.
        self.values["value"] = {k: v for table in reversed(list(self.values.values())) for k, v in table.items()}

    def snap(self, sql: str) -> tuple[str, list[str]]:
        tokens = _TOKEN.findall(sql)
        changes: list[str] = []
        last_name = None  # the latest identifier, to tell which column a string literal is compared to
        for i, tok in enumerate(tokens):
            if tok[0].isalpha() or tok[0] == "_":
                fixed = self._name(tok, _next_solid(tokens, i))
                if fixed != tok:
                    changes.append(f"column {tok!r} -> {fixed!r}")
                    tokens[i] = fixed
                if fixed.lower() not in _SQL_WORDS:
                    last_name = fixed.lower()
            elif tok.startswith("'") and last_name is not None:
                fixed = self._literal(tok, last_name)
                if fixed != tok:
                    changes.append(f"value {tok} -> {fixed}")
                    tokens[i] = fixed
        return self._list_equality("".join(tokens)), changes

    def _list_equality(self, sql: str) -> str:
        """`genres = 'Comedy'` compares a JSON list with one value; it means "has Comedy"."""
        lists = "|".join(re.escape(t) for t in sorted(self.tables - {"items"}))
        if not lists:
            return sql
        pattern = re.compile(rf"\b({lists})\s*(=|==|!=|<>)\s*'((?:[^'%]|'')*)'", re.I)

        def has(m):
            op = "NOT LIKE" if m.group(2) in ("!=", "<>") else "LIKE"
            # Not listed as a change: this is what "list = value" means, not a correction.
            return f"{m.group(1)} {op} '%\"{m.group(3)}\"%'"

        return pattern.sub(has, sql)

    def _name(self, tok: str, following: str) -> str:
        low = tok.lower()
        if low in _SQL_WORDS or low in self.columns or low in self.tables or following == "(":
            return tok
        if SYNONYMS.get(low) in self.columns:
            return SYNONYMS[low]
        close = difflib.get_close_matches(low, sorted(self.columns), n=1, cutoff=0.75)
        return close[0] if close else tok

    def _literal(self, tok: str, column: str) -> str:
        body = tok[1:-1].replace("''", "'")
        # Wildcards and the JSON quotes of a list column ('%"Comedy"%') stay; the value between is snapped.
        lead = len(body) - len(body.lstrip('%"'))
        core = body.strip('%"')
        if not core:
            return tok
        vocab = self.values.get(column)
        if vocab is not None:
            real = vocab.get(core.lower())
            if real is None:
                close = difflib.get_close_matches(core.lower(), list(vocab), n=1, cutoff=0.8)
                real = vocab[close[0]] if close else None
            if real is None:
                return tok
            return _quote(body[:lead] + real + body[lead + len(core):])
        if column == "title" and self.matcher is not None and not lead and not body.endswith(("%", '"')):
            match = self.matcher.match(core)
            if match is not None and match.title != core:
                return _quote(match.title)
        return tok


def _next_solid(tokens: list[str], i: int) -> str:
    for tok in tokens[i + 1:]:
        if not tok.isspace():
            return tok
    return ""


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
