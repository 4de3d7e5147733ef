"""RecLM-emb on ml-latest-small: zero-shot all-MiniLM-L6-v2 against the same model fine-tuned on the
ten matching tasks, per task, on the held-out queries (Hit@10, NDCG@10, Coverage@10).

The fine-tuning is `recai train emb` with its defaults (2,000 training queries per task, one
epoch, batch 32, lr 1e-4) unless --model names a folder it already wrote. Both models are
scored on the same 200 held-out queries per task: item-centred tasks ask for items that never were
a training positive, user-centred ones come from held-out users.

    python bench/emb.py                         # fine-tunes (~11 min on 2 cores), then evaluates
    python bench/emb.py --model runs/emb        # evaluate a fine-tuned folder against zero-shot
    python bench/emb.py --per-task 500          # a quicker, weaker run
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import recai.data as rd  # noqa: E402
from recai.emb import Embedder  # noqa: E402
from recai.emb.evaluate import evaluate_queries  # noqa: E402
from recai.emb.finetune import finetune_embedder  # noqa: E402
from recai.emb.tasks import build_tasks, catalog_texts  # noqa: E402
from recai.train import TrainConfig  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog="\n\n".join(__doc__.split("\n\n")[1:]),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", type=Path, default=None, help="an already fine-tuned folder (skips training)")
    p.add_argument("--base", default="minilm-l6")
    p.add_argument("--per-task", type=int, default=2000)
    p.add_argument("--test-per-task", type=int, default=200)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--epochs", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    ds = rd.load()
    split = build_tasks(ds.catalog, ds.interactions, n_train=args.per_task, n_test=args.test_per_task, seed=args.seed)
    texts = catalog_texts(ds.catalog)
    zero = Embedder.from_pretrained(args.base)
    before = evaluate_queries(zero, zero.encode(texts), split.test)
    seconds = None
    if args.model is None:
        out = Path(tempfile.mkdtemp(prefix="recai-emb-"))
        t0 = time.perf_counter()
        tuned = finetune_embedder(args.base, ds.catalog, split, TrainConfig(lr=args.lr, epochs=args.epochs,
                                  batch_size=32, warmup_steps=50, seed=args.seed, log_every=50), out)
        seconds = time.perf_counter() - t0
    else:
        tuned = Embedder.from_pretrained(str(args.model))
    after = evaluate_queries(tuned, tuned.encode(texts), split.test)
    print(f"ml-latest-small, {len(split.train)} training / {len(split.test)} held-out queries, {len(texts)} items"
          + (f"; fine-tuning took {seconds / 60:.1f} min" if seconds else ""))
    print("| task | Hit@10 zero-shot | Hit@10 fine-tuned | Δ | NDCG@10 zero-shot | NDCG@10 fine-tuned "
          "| Coverage@10 zero-shot | Coverage@10 fine-tuned |")
    print("|---|---|---|---|---|---|---|---|")
    for task in before:
        b, a = before[task], after[task]
        print(f"| {task} | {b['hit@10']:.3f} | {a['hit@10']:.3f} | {100 * (a['hit@10'] - b['hit@10']):+.1f} pt | "
              f"{b['ndcg@10']:.3f} | {a['ndcg@10']:.3f} | {b['coverage@10']:.3f} | {a['coverage@10']:.3f} |")
    worse = [t for t in before if t != "average" and after[t]["hit@10"] <= before[t]["hit@10"]]
    print("every task improved" if not worse else f"not improved: {', '.join(worse)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
