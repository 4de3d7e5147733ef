"""Knowledge Plugin: extraction and selection time for 1,000 users (target: under a minute on a CPU).

On MovieLens-100K with its Freebase graph (recbole's copy): 1,000 leave-one-out requests (the
943 test users, cycled), 20 candidates each; every extractor runs (attributes, co-occurrence
item CF, a teacher's user CF, KG paths of up to 3 hops), then selection within the budget counted
with SmolLM2's tokenizer, then the prompt is written. No peer runs: RecAI's Knowledge Plugin has
no packaged extractor to time against, so the figure is absolute, against the issue's target.

    python bench/knowledge.py                    # 1,000 requests, budget 256, ItemCF teacher
    python bench/knowledge.py --teacher sasrec   # a 12-epoch SASRec teacher (trained first, not timed)
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog="\n\n".join(__doc__.split("\n\n")[1:]),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--requests", type=int, default=1000)
    p.add_argument("--candidates", type=int, default=20)
    p.add_argument("--budget", type=int, default=256)
    p.add_argument("--teacher", choices=("itemcf", "sasrec"), default="itemcf")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)

    from recai.data import load
    from recai.hub import fetch
    from recai.knowledge.attributes import AttributeFacts
    from recai.knowledge.collaborative import CoOccurrence, ItemCFFacts, UserCFFacts
    from recai.knowledge.evaluate import rank_requests
    from recai.knowledge.facts import KINDS, TokenCounter
    from recai.knowledge.graph import KGFacts, KnowledgeGraph
    from recai.knowledge.prompt import KnowledgePlugin
    from recai.recsys import ItemCF, SASRec
    from recai.text import Tokenizer

    t0 = time.perf_counter()
    data = load("ml-100k")
    split = data.split("leave-one-out")
    source = Path(data.source)
    graph = KnowledgeGraph.load_recbole(source / "ml-100k.kg", source / "ml-100k.link", data.catalog)
    co = CoOccurrence(split.train)
    teacher = ItemCF().fit(split.train) if args.teacher == "itemcf" else SASRec().fit(split.train, epochs=12)
    tokenizer = Tokenizer.from_pretrained(fetch("smollm2-135m-instruct"))
    setup = time.perf_counter() - t0
    extractors = {"attributes": AttributeFacts(data.catalog), "item_cf": ItemCFFacts(data.catalog, co),
                  "user_cf": UserCFFacts(data.catalog, teacher), "kg": KGFacts(graph)}
    plugin = KnowledgePlugin(data.catalog, **extractors, counter=TokenCounter(tokenizer), budget=args.budget)
    base = rank_requests(split.test, len(data.catalog), len(split.test), args.candidates,
                         popularity=data.interactions.item_counts(), seed=0)
    requests = [base[n % len(base)] for n in range(args.requests)]
    print(f"setup (load data + KG {graph.n_triples} triples, co-occurrence, {args.teacher} teacher, tokenizer): "
          f"{setup:.1f} s")

    rows = []
    for kind in KINDS:
        t = time.perf_counter()
        n = sum(len(extractors[kind].facts(r.history[-plugin.history_len:], r.candidates)) for r in requests)
        rows.append((f"extract {kind}", time.perf_counter() - t, n / len(requests)))
    t = time.perf_counter()
    prompts = [plugin.prompt(r.history, r.candidates) for r in requests]
    total = time.perf_counter() - t
    over = sum(p.selection.tokens > args.budget for p in prompts)
    rows.append(("extract all + select + write prompt", total, sum(len(p.selection.facts) for p in prompts) / len(prompts)))
    print(f"\n{len(requests)} requests, {args.candidates} candidates, budget {args.budget} SmolLM2 tokens\n")
    print("| stage | seconds | per request (ms) | facts per request |")
    print("|---|---|---|---|")
    for name, s, facts in rows:
        print(f"| {name} | {s:.2f} | {1000 * s / len(requests):.1f} | {facts:.1f} |")
    mean_tokens = sum(p.selection.tokens for p in prompts) / len(prompts)
    per_1000 = total * 1000 / len(requests)
    print(f"\nmean knowledge tokens {mean_tokens:.0f}, over budget: {over}; target < 60 s per 1,000 users: "
          f"{'met' if per_1000 < 60 else 'MISSED'} ({per_1000:.1f} s per 1,000)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
