"""Top-1 accuracy and throughput of recai's TitleMatcher against rapidfuzz, on corrupted MovieLens titles.

Queries are catalog titles (ml-latest-small, 9125 movies) corrupted with a fixed seed: typos (swap,
drop, insert or replace a character, once or twice, outside the year), a dropped word (titles of 3+
words), an extra common word (one found in 10+ titles), a case change, the year removed, a moved
article restored ("Matrix, The" -> "The Matrix"), or a mix of two or three of these. A query counts
as correct when the answer has the right movieId, or exactly the same title string as the right
movie (the catalog holds two such duplicate pairs: Hamlet (2000), War of the Worlds (2005)). A title
without its year is ambiguous when the catalog holds remakes ("King Kong"): such misses are counted.

rapidfuzz runs WRatio with its own default_process applied to titles (once, before timing) and to
queries (timed), in two ways: extractOne per query (one core), and cdist over the whole query batch
(argmax per row). QRatio through cdist is timed too: it is more accurate than WRatio on corrupted
full titles (WRatio's partial token matching lets any long title sharing "of" or "the" score 85.5)
and much faster. recai runs match_many in batches; its index build is timed separately.

A second table asks for short names, the unique part of a title before or after its colon ("Borat"),
where partial matching matters. A third shows what the threshold keeps and lets through: random
letters, and real titles missing from the catalog.

    python bench/fuzzy.py                # 2000 queries, seed 0, default threads
    python bench/fuzzy.py --threads 1    # one core each: torch threads and cdist workers
    python bench/fuzzy.py --n 500 --seed 3 --show-errors 20
"""
from __future__ import annotations

import argparse
import csv
import random
import re
import sys
import time
from collections import Counter
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from recai.text.fuzzy import DEFAULT_THRESHOLD, TitleMatcher  # noqa: E402
from recai.text.normalize import ARTICLES, parse_title  # noqa: E402

MOVIES = Path(__file__).resolve().parents[1] / "recai/data/datasets/ml-latest-small/movies.csv"
YEAR = re.compile(r"\s*\(\d{4}(?:-\d{0,4})?\)\s*$")
MOVED = re.compile(r"^(.*), (\S+)$")  # "Matrix, The": the head of a title with its article moved
LETTERS = "abcdefghijklmnopqrstuvwxyz"


def load_movies() -> tuple[list[int], list[str]]:
    with open(MOVIES, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return [int(r["movieId"]) for r in rows], [r["title"] for r in rows]


# ---- corruptions: each takes (title, rng) and returns the corrupted title --------------------
def split_year(title: str) -> tuple[str, str]:
    m = YEAR.search(title)
    return (title[:m.start()], title[m.start():]) if m else (title, "")


def typo(title: str, rng: random.Random) -> str:
    text, year = split_year(title)
    if len(text) < 2:
        return title
    i = rng.randrange(len(text) - 1)
    op = rng.choice(["swap", "drop", "insert", "replace"])
    if op == "swap":
        text = text[:i] + text[i + 1] + text[i] + text[i + 2:]
    elif op == "drop":
        text = text[:i] + text[i + 1:]
    elif op == "insert":
        text = text[:i] + rng.choice(LETTERS) + text[i:]
    else:
        text = text[:i] + rng.choice(LETTERS) + text[i + 1:]
    return text + year


def typo2(title: str, rng: random.Random) -> str:
    return typo(typo(title, rng), rng)


def drop_word(title: str, rng: random.Random) -> str:
    text, year = split_year(title)
    words = text.split()
    del words[rng.randrange(len(words))]
    return " ".join(words) + year


def make_extra_word(vocabulary: list[str]):
    def extra_word(title: str, rng: random.Random) -> str:
        text, year = split_year(title)
        words = text.split()
        words.insert(rng.randrange(len(words) + 1), rng.choice(vocabulary))
        return " ".join(words) + year
    return extra_word


def case(title: str, rng: random.Random) -> str:
    how = rng.choice(["lower", "upper", "swap", "random"])
    if how == "random":
        return "".join(c.upper() if rng.random() < 0.5 else c.lower() for c in title)
    return {"lower": title.lower(), "upper": title.upper(), "swap": title.swapcase()}[how]


def no_year(title: str, rng: random.Random) -> str:
    return split_year(title)[0]


def article(title: str, rng: random.Random) -> str:
    """'Matrix, The (1999)' -> 'The Matrix (1999)' (the first parenthesised part keeps its place)."""
    text, year = split_year(title)
    head, _, tail = text.partition(" (")
    m = MOVED.match(head)
    head = f"{m.group(2)} {m.group(1)}"
    return head + (" (" + tail if tail else "") + year


def has_moved_article(title: str) -> bool:
    head = split_year(title)[0].partition(" (")[0]
    m = MOVED.match(head)
    return bool(m) and m.group(2).lower() in ARTICLES


def make_queries(titles: list[str], n: int, seed: int) -> list[tuple[int, str, str]]:
    """n (truth index, kind, query) triples; the kind is drawn among those that apply to the title."""
    rng = random.Random(seed)
    # Extra words are common catalog words (in 10+ titles: "love", "night", "story", ...); a rare word
    # is often a whole other title ("Luther" + "Dogville"), which makes the query ambiguous, not noisy.
    counts = Counter(w.lower() for t in titles for w in set(split_year(t)[0].split()) if w.isalpha())
    vocabulary = sorted(w for w, c in counts.items() if c >= 10)
    simple = {"typo": typo, "typo2": typo2, "drop_word": drop_word, "extra_word": make_extra_word(vocabulary),
              "case": case, "no_year": no_year, "article": article}
    out = []
    for _ in range(n):
        i = rng.randrange(len(titles))
        title = titles[i]
        ok = [k for k in simple if applies(k, title)]
        kind = rng.choice(ok + ["mix"])
        if kind == "mix":
            ops = rng.sample(ok, min(len(ok), rng.choice([2, 3])))
            # The article moves first, while its ", The" pattern is intact; the rest in a fixed order.
            ops.sort(key=lambda k: (k != "article", list(simple).index(k)))
            query = title
            for k in ops:
                query = simple[k](query, rng)
            kind = "mix"
        else:
            query = simple[kind](title, rng)
        out.append((i, kind, query))
    return out


def applies(kind: str, title: str) -> bool:
    text, year = split_year(title)
    if kind == "drop_word":
        return len(text.split()) >= 3
    if kind == "no_year":
        return bool(year)
    if kind == "article":
        return has_moved_article(title)
    return True


# ---- the matchers ----------------------------------------------------------------------------
def run_recai(matcher: TitleMatcher, queries: list[str], batch_size: int) -> list[int]:
    # threshold 0: top-1 accuracy counts the best guess, as rapidfuzz's argmax does
    matches = matcher.match_many(queries, threshold=0.0, batch_size=batch_size)
    return [m.index if m else -1 for m in matches]


def run_extract_one(queries: list[str], choices: list[str]) -> list[int]:
    from rapidfuzz import fuzz, process, utils
    return [process.extractOne(utils.default_process(q), choices, scorer=fuzz.WRatio, processor=None)[2]
            for q in queries]


def run_cdist(queries: list[str], choices: list[str], scorer: str = "WRatio", workers: int = -1) -> list[int]:
    from rapidfuzz import fuzz, process, utils
    scores = process.cdist([utils.default_process(q) for q in queries], choices, scorer=getattr(fuzz, scorer),
                           workers=workers)
    return scores.argmax(axis=1).tolist()


def timed(fn, *args, reps: int):
    """(result of the last run, best wall time over reps)."""
    best, result = float("inf"), None
    for _ in range(reps):
        t = time.perf_counter()
        result = fn(*args)
        best = min(best, time.perf_counter() - t)
    return result, best


def compare(matcher: TitleMatcher, choices: list[str], queries: list[str], reps: int, batch_size: int,
            workers: int) -> dict[str, tuple[list[int], float]]:
    """Each matcher's top-1 indices for the queries and its best wall time."""
    return {
        "recai TitleMatcher (batch)": timed(run_recai, matcher, queries, batch_size, reps=reps),
        # extractOne and WRatio's cdist are slow: fewer repetitions.
        "rapidfuzz extractOne WRatio": timed(run_extract_one, queries, choices, reps=max(1, reps - 2)),
        "rapidfuzz cdist WRatio": timed(run_cdist, queries, choices, "WRatio", workers, reps=max(1, reps - 2)),
        "rapidfuzz cdist QRatio": timed(run_cdist, queries, choices, "QRatio", workers, reps=reps),
    }


def short_names(titles: list[str]) -> list[tuple[int, str]]:
    """(index, name) for the part of a title before or after its colon, where that part is unique and
    not itself a title: "Borat" and "Dead and Loving It" (of "Dracula: Dead and Loving It (1995)")."""
    whole = {k for t in titles for k in (parse_title(t).main, *parse_title(t).alternates)}
    parts: dict[str, list[tuple[int, str]]] = {}
    for i, t in enumerate(titles):
        main = split_year(t)[0].partition(" (")[0]
        if ":" in main:
            for part in main.split(":", 1):
                key = parse_title(part).main
                if len(key) >= 4:
                    parts.setdefault(key, []).append((i, part.strip()))
    return [v[0] for k, v in parts.items() if len(v) == 1 and k not in whole]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=2000, help="number of corrupted queries")
    ap.add_argument("--seed", type=int, default=0, help="seed of the corruptions")
    ap.add_argument("--batch-size", type=int, default=512, help="recai match_many batch size")
    ap.add_argument("--reps", type=int, default=3, help="timing repetitions (best is reported)")
    ap.add_argument("--threads", type=int, default=0,
                    help="torch threads and rapidfuzz cdist workers (default: torch's default and all cores)")
    ap.add_argument("--show-errors", type=int, default=0, help="print this many of recai's misses")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    workers = args.threads or -1

    from rapidfuzz import utils
    ids, titles = load_movies()
    truth = make_queries(titles, args.n, args.seed)
    queries = [q for _, _, q in truth]
    t = time.perf_counter()
    matcher = TitleMatcher(titles, ids)
    build = time.perf_counter() - t
    choices = [utils.default_process(t) for t in titles]

    def correct(pred: list[int], truth_idx: list[int]) -> list[bool]:
        return [p == i or (p >= 0 and titles[p] == titles[i]) for p, i in zip(pred, truth_idx)]

    results = compare(matcher, choices, queries, args.reps, args.batch_size, workers)
    ok = {name: correct(pred, [i for i, _, _ in truth]) for name, (pred, _) in results.items()}
    print(f"{args.n} corrupted titles, seed {args.seed}, {len(titles)} catalog titles; torch threads "
          f"{torch.get_num_threads()}, cdist workers {workers}; recai index build {build:.2f} s")
    print(f"{'matcher':40s} {'top-1 acc':>9s} {'queries/s':>10s}")
    for name, (_, sec) in results.items():
        print(f"{name:40s} {sum(ok[name]) / args.n:9.2%} {args.n / sec:10.0f}")
    ours_name = "recai TitleMatcher (batch)"
    for name in list(results)[1:]:
        print(f"recai vs {name}: accuracy {(sum(ok[ours_name]) - sum(ok[name])) / args.n:+.2%}, "
              f"throughput x{results[name][1] / results[ours_name][1]:.2f}")

    kinds = Counter(k for _, k, _ in truth)
    for name in (ours_name, "rapidfuzz extractOne WRatio", "rapidfuzz cdist QRatio"):
        print(f"  {name[:27]:27s} " + "  ".join(
            f"{k} {sum(o for o, (_, kk, _) in zip(ok[name], truth) if kk == k) / n:.1%}" for k, n in kinds.items()))
    print("  queries per kind: " + ", ".join(f"{k} {n}" for k, n in kinds.items()))

    short = short_names(titles)
    short_results = compare(matcher, choices, [q for _, q in short], 1, args.batch_size, workers)
    print(f"\nshort names ({len(short)}: the unique part of a title before or after its colon), top-1 accuracy: "
          + ", ".join(f"{name} {sum(correct(pred, [i for i, _ in short])) / len(short):.1%}"
                      for name, (pred, _) in short_results.items()))

    report_threshold(matcher, truth, ok[ours_name], args.seed)
    misses = [(q, kind, i, m) for o, (i, kind, q), m in zip(ok[ours_name], truth, matcher.match_many(queries, 0.0))
              if not o]
    for q, kind, i, m in misses[:args.show_errors]:
        got = f"{m.title!r} ({m.score:.3f})" if m else "None"
        print(f"  miss [{kind}] {q!r} -> {got}; truth {titles[i]!r}")


def report_threshold(matcher: TitleMatcher, truth, ours: list[bool], seed: int) -> None:
    """For thresholds around DEFAULT_THRESHOLD: correct answers kept, and queries with no true item
    accepted: random letters, and real titles missing from the catalog (a matcher built without 500
    held-out titles is asked for them, as when an LLM names a film the catalog lacks)."""
    rng = random.Random(seed + 1)
    gibberish = ["".join(rng.choice(LETTERS + " ") for _ in range(rng.randint(4, 30))) for _ in range(500)]
    held_out = set(rng.sample(range(len(matcher.titles)), 500))
    partial = TitleMatcher([t for i, t in enumerate(matcher.titles) if i not in held_out])

    def scores(m: TitleMatcher, queries):
        return [x.score if x else -1.0 for x in m.match_many(queries, threshold=0.0)]

    query_scores = scores(matcher, [q for _, _, q in truth])
    right = [s for ok, s in zip(ours, query_scores) if ok]
    junk = {"random letters": scores(matcher, gibberish),
            "out-of-catalog titles": scores(partial, [matcher.titles[i] for i in sorted(held_out)])}
    print("\nthreshold  correct top-1 kept  " + "  ".join(f"{name} accepted" for name in junk))
    for t in sorted({0.4, 0.5, 0.6, 0.7, 0.8, DEFAULT_THRESHOLD}):
        mark = " (default)" if t == DEFAULT_THRESHOLD else ""
        print(f"{t:<9.2f}  {sum(s >= t for s in right) / len(right):18.1%}  " + "  ".join(
            f"{sum(s >= t for s in v) / len(v):{len(name) + 9}.1%}" for name, v in junk.items()) + mark)


if __name__ == "__main__":
    main()
