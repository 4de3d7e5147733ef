"""`recai train sasrec|mf|itemcf|pop`: the subcommands recai/cli.py registers under `recai train`.

Progress goes to stderr; stdout carries only the final test table, so it can be piped.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

MODELS = ("sasrec", "mf", "itemcf", "pop")
METRICS = ("ndcg", "recall", "mrr", "hit")


DESCRIPTION = ("Load a dataset, split it, and train the model with per-epoch validation NDCG@10 and early\n"
               "stopping (the best epoch's weights are kept). Then rank all items for every test user (history\n"
               "excluded) and print NDCG@10, Recall@10, MRR@10 and Hit@10 as a table on stdout; progress goes to\n"
               "stderr. The model is saved as model.safetensors + config.json (recai.recsys.load reads it back),\n"
               "with report.json (metrics, arguments, per-epoch log) beside them.")
HELP = {"sasrec": "SASRec: self-attention over each user's recent items",
        "mf": "BPR matrix factorisation", "itemcf": "item-item cosine over co-occurrence",
        "pop": "most interacted items"}
EXAMPLES = {"sasrec": ["recai train sasrec --dataset ml-100k",
                       "recai train sasrec --dataset data/Beauty --device cuda --out runs/beauty-sasrec"],
            "mf": ["recai train mf --dataset ml-100k --dim 64 --epochs 300 --patience 20"],
            "itemcf": ["recai train itemcf --dataset path/to/ratings.csv --kcore 5"],
            "pop": ["recai train pop --dataset ml-latest-small --split temporal"]}


def add_recsys_parsers(train_sub) -> None:
    """One `recai train MODEL` subcommand per classic recommender, on the subparsers of `recai train`."""
    for model in MODELS:
        p = train_sub.add_parser(model, help=HELP[model], description=f"{HELP[model]}.\n\n{DESCRIPTION}",
                                 epilog="examples:\n" + "\n".join(f"  {e}" for e in EXAMPLES[model]),
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
        _add_options(p, model)
        p.set_defaults(func=cmd_train, model=model)


def _add_options(p, model: str) -> None:
    p.add_argument("--dataset", default="ml-latest-small",
                   help="registered name (ml-latest-small, ml-100k, or one fetched with `recai data download`) or a "
                        "path to a dataset folder / .inter / .csv / .jsonl file (default: ml-latest-small)")
    p.add_argument("--split", choices=("leave-one-out", "temporal"), default="leave-one-out",
                   help="leave-one-out: each user's last item is test, the one before validation (default); "
                        "temporal: the last 10%% of the global timeline is test, the 10%% before it validation")
    p.add_argument("--kcore", type=int, default=0, metavar="N",
                   help="first keep only users and items with at least N interactions, iteratively (default: off)")
    if model in ("sasrec", "mf"):
        p.add_argument("--epochs", type=int, default=200, help="most training epochs (default 200)")
        p.add_argument("--patience", type=int, default=10,
                       help="stop after this many epochs without a better validation NDCG@10 (default 10)")
        p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default 1e-3)")
        p.add_argument("--dim", type=int, default=64, help="embedding / hidden size (default 64)")
        p.add_argument("--batch-size", type=int, default=None,
                       help="sasrec: sequence windows per step (default 16); mf: triples per step (default 2048)")
        p.add_argument("--seed", type=int, default=0, help="random seed for initialisation, batches, dropout (default 0)")
        p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    if model == "itemcf":
        p.add_argument("--neighbors", type=int, default=200, help="similarities kept per item (default 200)")
    p.add_argument("--out", type=Path, default=None,
                   help="folder for the trained model (default $RECAI_HOME/runs/DATASET-MODEL-TIME, "
                        "RECAI_HOME defaulting to ~/.cache/recai)")
    p.add_argument("--skip-bad", action="store_true",
                   help="skip malformed rows and unknown item ids in the dataset (counted on stderr) "
                        "instead of stopping at the first")
    p.add_argument("--quiet", action="store_true", help="no per-epoch progress on stderr")


def cmd_train(args) -> int:
    """Train, evaluate on the test split, print the table, save. Errors propagate (DataError, ValueError)."""
    import recai.data as rd
    from recai.recsys.evaluate import evaluate_model

    ds = rd.load(args.dataset, skip_bad=args.skip_bad)
    if ds.skipped:
        _note(f"skipped rows: {ds.skipped}")
    if args.kcore:
        ds = ds.kcore(args.kcore, args.kcore)
    split = ds.split(args.split)
    _note(f"{ds.name}: {split.train.n_users} users, {split.train.n_items} items, {len(split.train)} training "
          f"events; {len(split.valid)} validation and {len(split.test)} test users ({args.split})")
    model = _build(args)
    start = time.perf_counter()
    _fit(model, args, split)
    seconds = time.perf_counter() - start
    test = evaluate_model(model, split.test, ks=(10,), metrics=METRICS)
    out = args.out or _default_out(ds.name, args.model)
    model.save(out)
    _write_report(out, args, ds.name, test, seconds, getattr(model, "report", None))
    _print_table(args.model, ds.name, args.split, len(split.test), test, seconds)
    _note(f"model saved to {out}")
    return 0


def _build(args):
    from recai.recsys import BPRMF, ItemCF, Popularity, SASRec, SASRecConfig

    if args.model == "sasrec":
        return SASRec(SASRecConfig(dim=args.dim))
    if args.model == "mf":
        return BPRMF(dim=args.dim)
    if args.model == "itemcf":
        return ItemCF(neighbors=args.neighbors)
    return Popularity()


def _fit(model, args, split) -> None:
    if args.model in ("itemcf", "pop"):
        model.fit(split.train)
        return
    batch = args.batch_size or (16 if args.model == "sasrec" else 2048)
    model.fit(split.train, split.valid, epochs=args.epochs, batch_size=batch, lr=args.lr, patience=args.patience,
              seed=args.seed, device=args.device, progress=not args.quiet)


def _default_out(dataset: str, model: str) -> Path:
    from recai.hub import cache_dir

    return cache_dir() / "runs" / f"{dataset}-{model}-{time.strftime('%Y%m%d-%H%M%S')}"


def _write_report(out: Path, args, dataset: str, test: dict, seconds: float, report) -> None:
    data = {"model": args.model, "dataset": dataset, "split": args.split, "test": test, "train_seconds": seconds,
            "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items() if k != "func"}}
    if report is not None:
        data["best_epoch"], data["best_valid_ndcg@10"] = report.best_epoch, report.best_ndcg
        data["epochs"] = [vars(e) for e in report.epochs]
    from recai.data.atomic import atomic_text

    with atomic_text(Path(out) / "report.json") as f:
        f.write(json.dumps(data, indent=2) + "\n")


def _print_table(model: str, dataset: str, split: str, users: int, test: dict, seconds: float) -> None:
    head = ["model", "dataset", "split", "test users", "NDCG@10", "Recall@10", "MRR@10", "Hit@10", "train s"]
    row = [model, dataset, split, str(users)] + [f"{test[f'{m}@10']:.4f}" for m in METRICS] + [f"{seconds:.1f}"]
    widths = [max(len(h), len(r)) for h, r in zip(head, row)]
    print("  ".join(h.ljust(w) for h, w in zip(head, widths)))
    print("  ".join(r.ljust(w) for r, w in zip(row, widths)))


def _note(text: str) -> None:
    print(text, file=sys.stderr, flush=True)
