"""MovieLens-100K, leave-one-out, full ranking: recai's SASRec, BPR-MF, ItemCF and Popularity against
RecBole 1.2.1's own SASRec and BPR, trained in the same run on the identical split.

    python bench/recsys.py                                   # ~15 min on a 2-core CPU
    python bench/recsys.py --recbole-sasrec-epochs 30        # ~90 min: RecBole's SASRec near convergence
    python bench/recsys.py --recbole-sasrec-epochs 1 --epochs 30 --out results.json   # quick look
    python bench/recsys.py --device cuda --recbole-sasrec-epochs 200
    python bench/recsys.py --models sasrec,recbole-sasrec --recbole-sasrec-epochs 30   # hours on a CPU

Protocol: each user's last interaction is the test item and the one before it the validation item
(RecBole: eval_args split {'LS': 'valid_and_test'}, order 'TO'); ties in time keep file order in
both. RecBole normalises timestamps to [0, 1] and stores them as float32, which merges timestamps
about a second apart into ties and reorders a few users' last items; so RecBole reads a copy of its
own ml-100k.inter whose timestamps are replaced by their dense ranks (same order, exact in float32).
The script counts the users whose test item or model input differ between the two (0 expected).
Every model, RecBole's included, is scored by the same recai evaluator: all 1682 items ranked,
the user's history excluded, ties pessimistic. RecBole's own evaluator numbers are printed beside
them; note that RecBole does not exclude history for sequential models, so "no excl" columns
repeat that protocol for the SASRecs.

Training: both sides use the same architecture (RecBole's SASRec defaults), Adam lr 1e-3, the same
most epochs and patience (RecBole's stopping_step) on validation NDCG@10, and the best epoch's
weights. Batching differs: RecBole feeds 2048 prefixes per step, each re-encoded to predict its one
next item; recai feeds 16 windows of up to 50 items that overlap by half, each window predicting
its 25 newest targets (a user's oldest window all of its own), so an epoch covers the same targets
once with ~25x less compute (batch size 16 came from a small sweep on this split: 128, 64, 32, 16, 8
windows, lr 1e-3 to 3e-3; stride 25 beat non-overlapping windows on validation for 3 of 3 seeds, on test for 2 of 3).
RecBole's SASRec takes ~3 minutes per epoch on 2 CPU cores, so it gets its own epoch cap
(--recbole-sasrec-epochs); recai's SASRec is also trained under that cap ("SASRec @N ep"), the
equal-epochs comparison, besides its full run under --epochs.
Seconds per epoch count training only (validation excluded) on both sides.
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import recai.data as rd  # noqa: E402
from recai.recsys import BPRMF, ItemCF, Popularity, SASRec, evaluate_model  # noqa: E402

METRICS = ("ndcg", "recall", "mrr", "hit")
RANKED = "ml-100k-ranked"
MODELS = ("pop", "itemcf", "mf", "sasrec", "sasrec-equal", "recbole-sasrec", "recbole-bpr")


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="\n\n".join(__doc__.split("\n\n")[1:]), formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=100,
                   help="most epochs for recai's SASRec and BPR-MF and RecBole's BPR (default 100)")
    p.add_argument("--recbole-sasrec-epochs", type=int, default=3,
                   help="most epochs for RecBole's SASRec, and for the equal-epochs recai SASRec row (default 3)")
    p.add_argument("--patience", type=int, default=10,
                   help="early-stopping patience in epochs, both sides (default 10)")
    p.add_argument("--sasrec-batch-size", type=int, default=16,
                   help="recai SASRec: windows of up to 50 items per step (default 16)")
    p.add_argument("--sasrec-lr", type=float, default=1e-3, help="recai SASRec learning rate (default 1e-3)")
    p.add_argument("--sasrec-stride", type=int, default=None,
                   help="recai SASRec: targets per window (default: the model's, max_len // 2 = 25)")
    p.add_argument("--seed", type=int, default=2020, help="seed for both (RecBole's default 2020)")
    p.add_argument("--device", default="cpu", help="cpu or cuda, for both (default cpu)")
    p.add_argument("--models", default=",".join(MODELS),
                   help=f"comma-separated subset of {','.join(MODELS)} (default: all; sasrec-equal is recai's SASRec "
                        "under RecBole's SASRec epoch cap)")
    p.add_argument("--out", type=Path, help="write all results as JSON here")
    args = p.parse_args(argv)
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = sorted(set(args.models) - set(MODELS))
    if unknown:
        p.error(f"unknown --models {unknown}; choose from {', '.join(MODELS)}")
    return args


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# ---- recai -----------------------------------------------------------------------------------
def metrics_row(model, split, exclude_both=False) -> dict:
    row = evaluate_model(model, split.test, ks=(10,), metrics=METRICS)
    if exclude_both:
        row["ndcg@10 no excl"] = evaluate_model(model, split.test, ks=(10,), metrics=("ndcg",),
                                                exclude_history=False)["ndcg@10"]
    return row


def run_recai(split, args) -> list[dict]:
    rows = []
    for key, name, model in (("pop", "Popularity", Popularity()), ("itemcf", "ItemCF", ItemCF())):
        if key in args.models:
            t0 = time.perf_counter()
            model.fit(split.train)
            rows.append({"model": name, "impl": "recai", "train_s": time.perf_counter() - t0,
                         **metrics_row(model, split)})
    common = dict(patience=args.patience, seed=args.seed, device=args.device, progress=True)
    sasrec = dict(batch_size=args.sasrec_batch_size, lr=args.sasrec_lr, stride=args.sasrec_stride)
    runs = (("mf", "BPR-MF", BPRMF(), dict(epochs=args.epochs, batch_size=2048, lr=1e-3)),
            ("sasrec", "SASRec", SASRec(), dict(epochs=args.epochs, **sasrec)),
            ("sasrec-equal", f"SASRec @{args.recbole_sasrec_epochs} ep", SASRec(),
             dict(epochs=args.recbole_sasrec_epochs, **sasrec)))
    for key, name, model, options in runs:
        if key not in args.models:
            continue
        log(f"--- recai {name}")
        t0 = time.perf_counter()
        model.fit(split.train, split.valid, **options, **common)
        seconds = time.perf_counter() - t0
        rep = model.report
        rows.append({"model": name, "impl": "recai", "train_s": seconds, "s_per_epoch": rep.seconds_per_epoch,
                     "epochs": len(rep.epochs), "best_epoch": rep.best_epoch, "valid_ndcg@10": rep.best_ndcg,
                     **metrics_row(model, split, exclude_both=name.startswith("SASRec"))})
    return rows


# ---- RecBole ---------------------------------------------------------------------------------
@contextlib.contextmanager
def recbole_compat(workdir: Path):
    """Run RecBole 1.2.1 on numpy 2 / torch >= 2.6 without touching site-packages.

    - Config.compatibility_settings assigns np.float_ etc., which numpy 2 removed (AttributeError):
      replaced by one that sets the old aliases to their numpy 2 equivalents.
    - Trainer.evaluate(load_best_model=True) calls torch.load on a checkpoint holding a Config
      object; torch >= 2.6 defaults to weights_only=True and refuses it: weights_only=False here
      (our own checkpoint, written a minute earlier).
    - RecBole writes ./log, ./log_tensorboard and ./saved: the cwd moves to a temporary folder.
    - RecBole's Config also reads `--key=value` from sys.argv: it sees an empty command line here.
    """
    from recbole.config import Config

    def compatibility_settings(self):
        aliases = {"bool": np.bool_, "int": np.int_, "float": np.float64, "complex": np.complex128,
                   "object": np.object_, "str": np.str_, "long": np.int_, "unicode": np.str_,
                   "float_": np.float64, "complex_": np.complex128, "unicode_": np.str_}
        for name, value in aliases.items():
            setattr(np, name, value)

    saved = Config.compatibility_settings, torch.load, os.getcwd(), sys.argv
    Config.compatibility_settings = compatibility_settings
    sys.argv = sys.argv[:1]
    torch.load = functools.partial(saved[1], weights_only=False)
    os.chdir(workdir)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", module=r"recbole\.")  # pandas copy-on-write, amp deprecation noise
            yield
    finally:
        Config.compatibility_settings, torch.load, sys.argv = saved[0], saved[1], saved[3]
        os.chdir(saved[2])


def ranked_copy(workdir: Path) -> Path:
    """RecBole's ml-100k.inter with each timestamp replaced by its dense rank, as dataset ml-100k-ranked
    (RecBole hard-wires the name ml-100k to its bundled copy); returns the data_path."""
    from recai.data.loaders import recbole_ml100k

    lines = recbole_ml100k().read_text(encoding="utf-8").splitlines()
    header, rows = lines[0], [line.split("\t") for line in lines[1:] if line]
    col = header.split("\t").index("timestamp:float")
    times = np.array([float(r[col]) for r in rows])
    ranks = np.unique(times, return_inverse=True)[1]
    for r, rank in zip(rows, ranks):
        r[col] = str(int(rank))
    folder = workdir / "data" / RANKED
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{RANKED}.inter").write_text("\n".join([header] + ["\t".join(r) for r in rows]) + "\n", encoding="utf-8")
    return folder.parent


def recbole_config(model: str, epochs: int, args, workdir: Path):
    import recbole
    from recbole.config import Config

    options = {
        "data_path": str(ranked_copy(workdir)),
        "checkpoint_dir": str(workdir / "saved"),
        "eval_args": {"split": {"LS": "valid_and_test"}, "order": "TO", "mode": "full", "group_by": "user"},
        "metrics": ["NDCG", "Recall", "MRR", "Hit"], "topk": [10], "valid_metric": "NDCG@10",
        "epochs": epochs, "stopping_step": args.patience, "learning_rate": 1e-3, "seed": args.seed,
        "use_gpu": args.device.startswith("cuda"), "show_progress": False, "state": "INFO",
    }
    if model == "SASRec":
        options["train_neg_sample_args"] = None  # full-softmax CE, as recai's SASRec
        options["loss_type"] = "CE"
    # RecBole's own ml-100k dataset settings (fields loaded, float normalisation), for the renamed copy
    ml100k_yaml = Path(recbole.__file__).parent / "properties" / "dataset" / "ml-100k.yaml"
    return Config(model=model, dataset=RANKED, config_file_list=[str(ml100k_yaml)], config_dict=options)


class RecBoleScorer:
    """Adapts a trained RecBole model to recai's `score(users, histories)` over recai's item order."""

    def __init__(self, model, dataset, split, catalog, sequential: bool):
        self.model, self.dataset, self.sequential = model, dataset, sequential
        tokens = catalog_ids(catalog)
        self.item_to_rb = torch.as_tensor(dataset.token2id("item_id", tokens))  # (n_items,) RecBole ids
        self.user_to_rb = dataset.token2id("user_id", split.train.user_ids)
        self.max_len = dataset.config["MAX_ITEM_LIST_LENGTH"]

    def score(self, users, histories):
        from recbole.data.interaction import Interaction

        device = next(self.model.parameters()).device
        self.model.eval()
        if self.sequential:
            tails = [self.item_to_rb[torch.as_tensor(h[-self.max_len:])] for h in histories]
            seq = torch.zeros(len(tails), self.max_len, dtype=torch.long)
            for row, t in enumerate(tails):
                seq[row, : len(t)] = t
            inter = Interaction({"item_id_list": seq, "item_length": torch.tensor([len(t) for t in tails])})
        else:
            inter = Interaction({"user_id": torch.as_tensor(self.user_to_rb[np.asarray(users)])})
        with torch.no_grad():
            scores = self.model.full_sort_predict(inter.to(device)).view(len(users), -1)
        return scores[:, self.item_to_rb.to(device)]


def catalog_ids(catalog) -> list[str]:
    """The catalog's item ids (RecBole's item tokens) in recai's index order."""
    return [catalog.item(i)["id"] for i in range(len(catalog))]


def check_same_split(dataset, test_data, data, split, catalog, sequential: bool) -> dict:
    """Users whose whole time-ordered sequence, test item or (SASRec) test input differ from recai's."""
    tokens = np.array(catalog_ids(catalog))
    out = {}
    if not sequential:
        # RecBole's `build` sorted dataset.inter_feat by time, stably; grouping by user keeps that order.
        # (A sequential dataset holds augmented prefixes instead; there the test inputs are compared.)
        all_users = dataset.id2token("user_id", dataset.inter_feat["user_id"].numpy())
        all_items = dataset.id2token("item_id", dataset.inter_feat["item_id"].numpy())
        theirs = {}
        for u, i in zip(all_users, all_items):
            theirs.setdefault(u, []).append(i)
        out["sequence_differs"] = sum(theirs.get(u) != list(tokens[data.sequence(k)])
                                      for k, u in enumerate(data.user_ids))
    feat = test_data.dataset.inter_feat
    users = dataset.id2token("user_id", feat["user_id"].numpy())
    items = dataset.id2token("item_id", feat["item_id"].numpy())
    ours = {split.train.user_ids[u]: (int(t[0]), h) for u, t, h in
            zip(split.test.users, split.test.targets, split.test.history)}
    target_diff = sum(tokens[ours[u][0]] != i for u, i in zip(users, items))
    out.update(users_recbole=len(users), users_recai=len(ours), test_item_differs=int(target_diff))
    if sequential:
        hist_diff = 0
        for row, u in enumerate(users):
            n = int(feat["item_length"][row])
            theirs = list(dataset.id2token("item_id", feat["item_id_list"][row, :n].numpy()))
            mine = list(tokens[ours[u][1][-50:]])  # RecBole keeps the last MAX_ITEM_LIST_LENGTH = 50
            hist_diff += int(theirs != mine)
        out["history_differs"] = hist_diff
    return out


def run_recbole(model_name: str, epochs: int, args, data, split, catalog, workdir: Path) -> dict:
    from recbole.data import create_dataset, data_preparation
    from recbole.model.general_recommender import BPR
    from recbole.model.sequential_recommender import SASRec as RBSASRec
    from recbole.trainer import Trainer
    from recbole.utils import init_logger, init_seed

    log(f"--- RecBole {model_name}")
    config = recbole_config(model_name, epochs, args, workdir)
    init_seed(config["seed"], config["reproducibility"])
    init_logger(config)
    dataset = create_dataset(config)
    train_data, valid_data, test_data = data_preparation(config, dataset)
    sequential = model_name == "SASRec"
    same = check_same_split(dataset, test_data, data, split, catalog, sequential)
    log(f"split check: {same}")
    init_seed(config["seed"], config["reproducibility"])
    model = (RBSASRec if sequential else BPR)(config, train_data.dataset).to(config["device"])
    trainer = Trainer(config, model)
    epoch_seconds = []
    train_epoch = trainer._train_epoch

    def timed_epoch(*a, **k):  # training only, as recai's seconds per epoch
        t0 = time.perf_counter()
        out = train_epoch(*a, **k)
        epoch_seconds.append(time.perf_counter() - t0)
        return out

    trainer._train_epoch = timed_epoch
    t0 = time.perf_counter()
    best_valid, _ = trainer.fit(train_data, valid_data, saved=True, show_progress=False)
    seconds = time.perf_counter() - t0
    own = trainer.evaluate(test_data, load_best_model=True, show_progress=False)  # loads the best epoch
    scorer = RecBoleScorer(trainer.model, dataset, split, catalog, sequential)
    row = {"model": "SASRec" if sequential else "BPR-MF", "impl": "RecBole", "train_s": seconds,
           "s_per_epoch": float(np.mean(epoch_seconds)), "epochs": len(epoch_seconds),
           # RecBole's cur_step counts epochs since the best one
           "best_epoch": len(epoch_seconds) - trainer.cur_step, "valid_ndcg@10": float(best_valid),
           "recbole_own_test": {k: float(v) for k, v in own.items()}, "split_check": same,
           **metrics_row(scorer, split, exclude_both=sequential)}
    return row


# ---- report ----------------------------------------------------------------------------------
def fmt(v, spec=".4f") -> str:
    return "-" if v is None else format(v, spec)


def print_table(rows: list[dict]) -> None:
    head = ["model", "impl", "epochs", "best", "NDCG@10", "Recall@10", "MRR@10", "Hit@10", "NDCG no-excl",
            "RecBole-eval NDCG", "train s", "s/epoch"]
    table = [[r["model"], r["impl"], fmt(r.get("epochs"), "d"), fmt(r.get("best_epoch"), "d"),
              fmt(r["ndcg@10"]), fmt(r["recall@10"]), fmt(r["mrr@10"]), fmt(r["hit@10"]),
              fmt(r.get("ndcg@10 no excl")), fmt(r.get("recbole_own_test", {}).get("ndcg@10")),
              fmt(r["train_s"], ".1f"), fmt(r.get("s_per_epoch"), ".2f")] for r in rows]
    widths = [max(len(h), *(len(t[i]) for t in table)) for i, h in enumerate(head)]
    print("  ".join(h.ljust(w) for h, w in zip(head, widths)))
    for t in table:
        print("  ".join(c.ljust(w) for c, w in zip(t, widths)))


def ratios(rows: list[dict]) -> dict:
    find = {(r["model"], r["impl"]): r for r in rows}
    out = {}
    equal_epochs = [r["model"] for r in rows if r["model"].startswith("SASRec @")]
    for ours, theirs in [("SASRec", "SASRec"), *((e, "SASRec") for e in equal_epochs), ("BPR-MF", "BPR-MF")]:
        a, b = find.get((ours, "recai")), find.get((theirs, "RecBole"))
        if a is None or b is None:
            continue
        out[f"{ours} vs RecBole {theirs}"] = {
            "ndcg@10": a["ndcg@10"] / b["ndcg@10"], "recall@10": a["recall@10"] / b["recall@10"],
            "mrr@10": a["mrr@10"] / b["mrr@10"], "s_per_epoch": a["s_per_epoch"] / b["s_per_epoch"],
            "train_s": a["train_s"] / b["train_s"]}
    return out


def main(argv=None) -> int:
    args = parse_args(argv)
    ds = rd.load("ml-100k")
    split = ds.split("leave-one-out")
    log(f"{ds}: {len(split.test)} test users, leave-one-out, full ranking over {split.train.n_items} items")
    rows = run_recai(split, args)
    recbole_runs = [(m, e) for key, m, e in (("recbole-sasrec", "SASRec", args.recbole_sasrec_epochs),
                                              ("recbole-bpr", "BPR", args.epochs)) if key in args.models]
    if recbole_runs:
        with tempfile.TemporaryDirectory(prefix="recbole-bench-") as tmp, recbole_compat(Path(tmp)):
            for model_name, epochs in recbole_runs:
                rows.append(run_recbole(model_name, epochs, args, ds.interactions, split, ds.catalog, Path(tmp)))
    order = ["SASRec", "SASRec @", "BPR-MF", "ItemCF", "Popularity"]
    rows.sort(key=lambda r: (next(i for i, o in enumerate(order) if r["model"].startswith(o)), r["impl"] != "recai"))
    print(f"\nMovieLens-100K ({len(split.test)} users, {split.train.n_items} items), leave-one-out, full ranking, "
          f"history excluded, device {args.device}, torch threads {torch.get_num_threads()}")
    print_table(rows)
    rat = ratios(rows)
    for name, r in rat.items():
        print(f"{name}: NDCG@10 x{r['ndcg@10']:.2f}  Recall@10 x{r['recall@10']:.2f}  MRR@10 x{r['mrr@10']:.2f}  "
              f"s/epoch x{r['s_per_epoch']:.3f}  train time x{r['train_s']:.2f}  (recai / RecBole)")
    for r in rows:
        if "split_check" in r:
            print(f"split check vs RecBole {r['model']}: {r['split_check']}")
    if args.out:
        args.out.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "rows": rows,
                                        "ratios": rat}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
