"""Rebuild the shipped demo bank: `python -m recai.agent.demos [--check]`.

120 demonstrations come from the request templates over training items; the 20 below are written by
hand for phrasings and combinations the templates do not produce. Their plans are built by the same
canonical `plan_for` as everything else, from the intent spelled out here, so they cannot drift
from the conventions the planners are measured on.
"""
from __future__ import annotations

import argparse
import sys

from recai.agent.demos import BANK_SIZE, bank_path, read_bank, write_bank
from recai.agent.requests import Example, RequestGenerator, as_written
from recai.agent.rule_planner import plan_for
from recai.agent.understand import Request

# (request, intent fields); titles are looked up in the catalog and must resolve exactly.
HAND_WRITTEN = [
    ("Date night tomorrow: a romantic comedy from the 2000s, please",
     dict(want_categories=["Romance", "Comedy"], year_min=2000, year_max=2009)),
    ("My kids loved Finding Nemo. What should we watch next?", dict(similar_to=["Finding Nemo (2003)"])),
    ("Nothing scary please, but something with aliens", dict(avoid_categories=["Horror"], description="aliens")),
    ("I need a good crime thriller that is highly rated",
     dict(want_categories=["Crime", "Thriller"], min_rating=4.0)),
    ("Is Fargo a comedy?", dict(question="genres", question_item="Fargo (1996)")),
    ("When did Jurassic Park come out?", dict(question="year", question_item="Jurassic Park (1993)")),
    ("Pick one for me: Alien, Aliens or Predator",
     dict(candidates=["Alien (1979)", "Aliens (1986)", "Predator (1987)"])),
    ("Old westerns, the classic kind", dict(want_categories=["Western"], year_max=1979)),
    ("Something like Pulp Fiction but without crime",
     dict(similar_to=["Pulp Fiction (1994)"], avoid_categories=["Crime"])),
    ("Give me a mix of popular movies from the 80s", dict(year_min=1980, year_max=1989, popular=True, diverse=True)),
    ("I want documentaries about music", dict(want_categories=["Documentary"], description="music")),
    ("A war film like Saving Private Ryan", dict(want_categories=["War"], similar_to=["Saving Private Ryan (1998)"])),
    ("Tell me about Casablanca", dict(question="about", question_item="Casablanca (1942)")),
    ("Surprise me with some highly rated films", dict(min_rating=4.0)),
    ("What are people watching the most?", dict(popular=True)),
    ("Between Heat and Ronin, which one is better for me?", dict(candidates=["Heat (1995)", "Ronin (1998)"])),
    ("I'd like a movie about a heist with a clever twist", dict(description="heist clever twist")),
    ("Animated movies for adults, nothing for kids", dict(want_categories=["Animation"], avoid_categories=["Children"])),
    ("How well rated is The Godfather?", dict(question="rating", question_item="Godfather, The (1972)")),
    ("Fantasy adventures with dragons, any decade", dict(want_categories=["Fantasy", "Adventure"], description="dragons")),
]


def hand_written(domain) -> list[Example]:
    index = {t: i for i, t in enumerate(domain.catalog.titles)}

    def item(title):
        if title not in index:
            raise SystemExit(f"hand-written demo names {title!r}, which is not in {domain.name}")
        return index[title]

    out = []
    for text, fields in HAND_WRITTEN:
        f = dict(fields)
        for key in ("similar_to", "candidates"):
            if key in f:
                f[key] = [item(t) for t in f[key]]
        if "question_item" in f:
            f["question_item"] = item(f["question_item"])
        out.append(Example(text, plan_for(Request(**f), domain), "hand-written"))
    return out


def build(domain) -> list[Example]:
    """The bank; plans name titles as their requests wrote them (`as_written`), which is what the
    planner should copy."""
    generated = RequestGenerator(domain, "train", seed=0).examples(BANK_SIZE - len(HAND_WRITTEN))
    return [as_written(ex, domain) for ex in generated + hand_written(domain)]


def main(argv=None) -> int:
    from recai.agent.domain import Domain
    from recai.data import load

    p = argparse.ArgumentParser(prog="python -m recai.agent.demos", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="ml-latest-small")
    p.add_argument("--check", action="store_true", help="only verify the shipped bank equals a rebuild")
    args = p.parse_args(argv)
    data = load(args.dataset)
    domain = Domain.from_parts(data.name, data.catalog, data.interactions)
    bank = build(domain)
    path = bank_path(data.name)
    if args.check:
        same = path.is_file() and [e.to_dict() for e in read_bank(path)] == [e.to_dict() for e in bank]
        print(f"{path}: {'up to date' if same else 'differs from a rebuild'}")
        return 0 if same else 1
    write_bank(path, bank)
    print(f"wrote {len(bank)} demonstrations to {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
