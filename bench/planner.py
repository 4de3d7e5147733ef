"""Planner accuracy on held-out requests: the rule planner, the zero-shot small model (dynamic demos +
grammar) and, when given, a LoRA-tuned planner, on the same requests.

The held-out set is generated from the request templates over evaluation items only (catalog
index = 0 mod 5), which the demo bank and the tool-learning data never use. A plan is correct when
its tool sequence equals the gold one and its key arguments do the same thing
(`recai.agent.evaluate`); "exact" also asks for identical text.

    python bench/planner.py                       # 210 requests; the LLM rows take ~20 min on 2 cores
    python bench/planner.py --n 70 --skip-llm     # the rule planner only, in seconds
    python bench/planner.py --adapter runs/planner/adapter   # add the tuned planner's row
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from recai.agent.domain import Domain  # noqa: E402
from recai.agent.evaluate import score_planner  # noqa: E402
from recai.agent.requests import RequestGenerator  # noqa: E402
from recai.agent.rule_planner import RulePlanner  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog="\n\n".join(__doc__.split("\n\n")[1:]),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=210, help="held-out requests (default 210, 30 per template family)")
    p.add_argument("--seed", type=int, default=2, help="seed of the held-out set (default 2)")
    p.add_argument("--llm", default="smollm2-135m-instruct", help="local model for the LLM planner rows")
    p.add_argument("--adapter", type=Path, help="a LoRA planner adapter (recai train planner) for the tuned row")
    p.add_argument("--skip-llm", action="store_true", help="only the rule planner")
    p.add_argument("--skip-zero-shot", action="store_true", help="no zero-shot row (with --adapter: rules and tuned)")
    p.add_argument("--show-failures", type=int, default=3, help="misses to print per planner")
    args = p.parse_args(argv)

    from recai.data import load
    from recai.emb import Embedder

    data = load("ml-latest-small")
    domain = Domain.from_parts(data.name, data.catalog, data.interactions, embedder=Embedder.from_pretrained("minilm-l6"))
    examples = RequestGenerator(domain, "eval", seed=args.seed).examples(args.n)
    rows = [("rules", RulePlanner(domain))]
    if not args.skip_llm:
        from recai.agent.llm_planner import LLMPlanner
        from recai.llm import LocalLLM

        llm = LocalLLM.from_spec(args.llm)
        if not args.skip_zero_shot:
            rows.append((f"{args.llm} zero-shot, 4 demos + grammar", LLMPlanner(domain, llm)))
        if args.adapter:
            from recai.agent.tool_learning import TUNED_SYSTEM, load_planner_llm

            tuned = load_planner_llm(args.llm, args.adapter)
            rows.append((f"{args.llm} + LoRA planner", LLMPlanner(domain, tuned, n_demos=0, system=TUNED_SYSTEM)))
    results = []
    for name, planner in rows:
        def progress(done, total, s, name=name):
            if done % 10 == 0 or done == total:
                print(f"\r{name}: {done}/{total}  accuracy {s.accuracy:.3f}", end="", file=sys.stderr, flush=True)
        s = score_planner(planner, examples, domain, progress=progress)
        print(file=sys.stderr)
        results.append((name, s))
    intents = sorted(results[0][1].per_intent)
    print(f"{len(examples)} held-out requests (seed {args.seed}), ml-latest-small evaluation items")
    print("| planner | correct | exact | median s/plan | " + " | ".join(intents) + " |")
    print("|---|---|---|---|" + "---|" * len(intents))
    for name, s in results:
        cells = [f"{s.by_intent[i]}/{s.per_intent[i]}" for i in intents]
        print(f"| {name} | {s.accuracy:.1%} | {s.exact / s.total:.1%} | {statistics.median(s.seconds):.2f} | "
              + " | ".join(cells) + " |")
    for name, s in results:
        for request, gold, got in s.failures[:args.show_failures]:
            print(f"\n[{name}] miss: {request}\n  gold: {[(x.tool, x.input) for x in gold]}\n  got:  "
                  f"{[(x.tool, x.input) for x in got] if isinstance(got, list) else got}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
