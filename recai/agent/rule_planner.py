"""The rule-based planner: a plan from what `RequestReader` finds, with no language model.

It is the agent's brain in constrained deployments (`--llm none`) and the baseline the LLM
planners are measured against. It writes the plans in the same canonical order as the demo bank:
candidates, then hard conditions, then meaning, then ranking.
"""
from __future__ import annotations

from recai.agent.plan import Step
from recai.agent.understand import Request, RequestReader

QUESTION_COLUMNS = {"year": "title, year", "genres": "title, genres", "rating": "title, avg_rating, popularity",
                    "about": "title, year, genres, tags, avg_rating"}


class RulePlanner:
    name = "rules"

    def __init__(self, domain):
        self.domain = domain
        self.reader = RequestReader(domain)

    def plan(self, message: str, context: dict | None = None) -> list[Step]:
        """context: the agent's turn context; its "request" (the message already read) saves reading
        it again. The rules use the message alone, not the dialogue."""
        request = (context or {}).get("request") or self.reader.read(message)
        return plan_for(request, self.domain)


def plan_for(req: Request, domain) -> list[Step]:
    titles = domain.catalog.titles
    if req.question is not None:
        cols = _existing(QUESTION_COLUMNS[req.question], domain)
        title = titles[req.question_item].replace("'", "''")
        return [Step("lookup", f"SELECT {cols} FROM items WHERE title = '{title}'")]
    steps = []
    if req.candidates:
        steps.append(Step("candidates", "; ".join(titles[i] for i in req.candidates)))
    condition = hard_condition(req, domain)
    if condition:
        steps.append(Step("hard_filter", condition))
    seeds = req.similar_to or ([] if req.candidates else req.liked)
    if seeds:
        steps.append(Step("soft_filter", "like: " + "; ".join(titles[i] for i in seeds)))
    elif req.description:
        steps.append(Step("soft_filter", req.description))
    mode = "popularity" if req.popular else "similarity" if steps and steps[-1].tool == "soft_filter" else "preference"
    steps.append(Step("rank", mode + (", diversity" if req.diverse else "")))
    return steps


def hard_condition(req: Request, domain) -> str:
    """The SQL condition for the request's categories, years and rating (empty when there are none)."""
    attr = domain.category_attr
    parts = []
    if attr:
        # "genres = 'Comedy'" reads as membership: the SQL snapper turns it into an exact test on the
        # JSON list. The form also needs no double quotes, which the plan grammar's strings exclude.
        parts += [f"{attr} = '{_sql_text(v)}'" for v in req.want_categories]
        parts += [f"{attr} != '{_sql_text(v)}'" for v in req.avoid_categories]
    if req.year_min is not None and req.year_min == req.year_max:
        parts.append(f"year = {req.year_min}")
    else:
        if req.year_min is not None:
            parts.append(f"year >= {req.year_min}")
        if req.year_max is not None:
            parts.append(f"year <= {req.year_max}")
    if req.min_rating is not None and "avg_rating" in domain.catalog.schema:
        parts.append(f"avg_rating >= {req.min_rating:g}")
    return " AND ".join(parts)


def _existing(columns: str, domain) -> str:
    have = {"title", "id", *domain.catalog.schema}
    return ", ".join(c for c in (c.strip() for c in columns.split(",")) if c in have)


def _sql_text(value: str) -> str:
    return value.replace("'", "''")
