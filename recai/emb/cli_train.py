"""`recai train emb` and `recai eval emb`: RecLM-emb fine-tuning and its per-task evaluation.

Progress goes to stderr; the results table (markdown) goes to stdout.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

SPLIT_FILE = "recai_emb.json"  # the task settings a fine-tuned folder was trained with


def _add_task_options(p) -> None:
    p.add_argument("--dataset", default=None, help="dataset name or path (default ml-latest-small, or the one the "
                                                   "model was fine-tuned on)")
    p.add_argument("--test-per-task", type=int, default=200, help="held-out queries per task (default 200)")
    p.add_argument("--test-share", type=float, default=None,
                   help="share of items and users held out for testing (default 0.1)")
    p.add_argument("--seed", type=int, default=None, help="seed of the task split (default 0)")


def add_emb_train_parser(train_sub) -> None:
    p = train_sub.add_parser(
        "emb", help="RecLM-emb: fine-tune an embedding model on ten item-matching tasks",
        description="Generate RecLM-emb's ten matching tasks from a dataset (history -> next item, item -> similar\n"
                    "item, user summary, full / sparse / summarised / vague / negated attributes, misspelled title,\n"
                    "history + query), with hard negatives and held-out test items and users; fine-tune the base\n"
                    "embedder contrastively (InfoNCE, in-batch + hard negatives); save it as a sentence-transformers\n"
                    "folder; print Hit@10, NDCG@10 and Coverage@10 per task on the held-out queries.",
        epilog="examples:\n"
               "  recai train emb --dataset ml-latest-small --base minilm-l6\n"
               "  recai train emb --per-task 500 --epochs 1 --out runs/emb-small\n"
               "  recai train emb --lora-rank 8 --lr 5e-4\n"
               "  recai eval emb --model runs/emb-small",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base", default="minilm-l6", help="embedder to start from: registered name or a "
                                                       "sentence-transformers / HF BERT folder (default minilm-l6)")
    _add_task_options(p)
    p.add_argument("--per-task", type=int, default=2000, help="training queries per task (default 2000)")
    p.add_argument("--epochs", type=float, default=1.0, help="passes over the training queries (default 1)")
    p.add_argument("--lr", type=float, default=1e-4, help="AdamW learning rate (default 1e-4)")
    p.add_argument("--batch-size", type=int, default=32, help="queries per step; each brings its positive and "
                                                              "hard negatives (default 32)")
    p.add_argument("--negatives", type=int, default=1, help="hard negatives per query (default 1)")
    p.add_argument("--temperature", type=float, default=0.05, help="InfoNCE temperature (default 0.05)")
    p.add_argument("--max-length", type=int, default=64, help="tokens per text in training (default 64)")
    p.add_argument("--lora-rank", type=int, default=0, help="train LoRA adapters of this rank instead of all "
                                                            "weights (default 0: full fine-tuning)")
    p.add_argument("--out", type=Path, default=None, help="output folder (default $RECAI_HOME/runs/emb-DATASET-TIME)")
    p.add_argument("--resume", type=Path, default=None, help="continue from OUT/checkpoints (or a step folder)")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(func=cmd_train_emb)


def add_emb_eval_parser(eval_sub) -> None:
    p = eval_sub.add_parser(
        "emb", help="RecLM-emb: Hit@k, NDCG@k and Coverage@k of an embedder on the ten matching tasks",
        description="Rebuild the held-out queries of the ten RecLM-emb tasks (same seed and test share as\n"
                    "training, read from the model folder when it was made by `recai train emb`), embed the\n"
                    "catalog, and rank every item for every query (exact top-k, items named in the query left out).",
        epilog="examples:\n"
               "  recai eval emb                               # zero-shot all-MiniLM-L6-v2 on ml-latest-small\n"
               "  recai eval emb --model runs/emb --json results.json",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="minilm-l6", help="embedder: registered name or folder (default minilm-l6)")
    _add_task_options(p)
    p.add_argument("--ks", default="1,5,10,20", help="cut-offs (default 1,5,10,20)")
    p.add_argument("--json", type=Path, default=None, help="also write all results here")
    p.set_defaults(func=cmd_eval_emb)


def _settings(args, model_dir: Path | None) -> dict:
    """dataset / seed / test_share: flags first, then the fine-tuned folder's record, then defaults."""
    saved = {}
    if model_dir is not None and (model_dir / SPLIT_FILE).is_file():
        saved = json.loads((model_dir / SPLIT_FILE).read_text())
    pick = lambda name, default: getattr(args, name) if getattr(args, name) is not None else saved.get(name, default)  # noqa: E731
    return {"dataset": pick("dataset", "ml-latest-small"), "seed": pick("seed", 0), "test_share": pick("test_share", 0.1)}


def cmd_train_emb(args) -> int:
    import recai.data as rd
    from recai.emb.finetune import finetune_embedder
    from recai.emb.tasks import build_tasks
    from recai.train import TrainConfig

    s = _settings(args, None)
    ds = rd.load(s["dataset"])
    split = build_tasks(ds.catalog, ds.interactions, n_train=args.per_task, n_test=args.test_per_task,
                        seed=s["seed"], test_share=s["test_share"])
    _note(f"{ds.name}: {len(split.train)} training and {len(split.test)} test queries over {len(ds.catalog)} items"
          + (f"; skipped {split.skipped}" if split.skipped else ""))
    out = args.out or _default_out(ds.name)
    cfg = TrainConfig(lr=args.lr, epochs=args.epochs, batch_size=args.batch_size, warmup_steps=50,
                      seed=s["seed"], log_every=50)
    start = time.perf_counter()
    embedder = finetune_embedder(args.base, ds.catalog, split, cfg, out, negatives=args.negatives,
                                 max_length=args.max_length, temperature=args.temperature,
                                 lora_rank=args.lora_rank, resume=args.resume, progress=not args.quiet)
    seconds = time.perf_counter() - start
    (Path(out) / SPLIT_FILE).write_text(json.dumps({**s, "base": args.base, "per_task": args.per_task,
                                                    "train_seconds": round(seconds, 1)}, indent=2) + "\n")
    _note(f"trained in {seconds / 60:.1f} min; saved to {out}")
    results = _evaluate(embedder, ds.catalog, split.test, (1, 5, 10, 20))
    _report(results, Path(out) / "report.json")
    return 0


def cmd_eval_emb(args) -> int:
    import recai.data as rd
    from recai.emb import Embedder
    from recai.emb.tasks import build_tasks

    ks = tuple(int(k) for k in args.ks.split(","))
    embedder = Embedder.from_pretrained(args.model)
    folder = Path(args.model)
    s = _settings(args, folder if folder.is_dir() else None)
    ds = rd.load(s["dataset"])
    split = build_tasks(ds.catalog, ds.interactions, n_train=0, n_test=args.test_per_task, seed=s["seed"],
                        test_share=s["test_share"])
    _note(f"{embedder}: {len(split.test)} held-out queries on {ds.name} (seed {s['seed']}, test share {s['test_share']})")
    results = _evaluate(embedder, ds.catalog, split.test, ks)
    _report(results, args.json, ks)
    return 0


def _evaluate(embedder, catalog, queries, ks):
    from recai.emb.evaluate import evaluate_queries
    from recai.emb.tasks import catalog_texts

    items = embedder.encode(catalog_texts(catalog))
    return evaluate_queries(embedder, items, queries, ks=ks)


def _report(results: dict, path: Path | None, ks=(1, 5, 10, 20)) -> None:
    from recai.emb.evaluate import format_table

    print(format_table(results, ks=(10,) if 10 in ks else ks[:1]))
    if path is not None:
        from recai.data.atomic import atomic_text

        with atomic_text(path) as f:
            f.write(json.dumps(results, indent=2) + "\n")


def _default_out(dataset: str) -> Path:
    from recai.hub import cache_dir

    return cache_dir() / "runs" / f"emb-{dataset}-{time.strftime('%Y%m%d-%H%M%S')}"


def _note(text: str) -> None:
    print(text, file=sys.stderr, flush=True)
