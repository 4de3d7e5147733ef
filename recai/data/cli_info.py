"""`recai data info` and `recai data convert`: look at a dataset, or write it in another layout."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

FORMATS = ("recai", "catalog")


def add_info_parser(sub) -> None:
    p = sub.add_parser(
        "info", help="counts, sparsity and an attribute summary of a dataset",
        description="Load a dataset by name or path and print its size, sparsity, history lengths, "
                    "catalog schema and a summary of every attribute.",
        epilog="examples:\n  recai data info ml-latest-small\n  recai data info ml-100k --json\n"
               "  recai data info path/to/lastfm-hetrec2011 --skip-bad",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dataset", nargs="?", default="ml-latest-small",
                   help="registered name or path (default: the shipped ml-latest-small)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    _add_source_args(p)
    p.set_defaults(func=cmd_info)


def add_convert_parser(sub) -> None:
    p = sub.add_parser(
        "convert", help="write a dataset in RecAI's layout or as an SQLite catalog",
        description="Load a dataset in any supported layout and write it as RecAI's layout (metadata.json + "
                    "sequential_data.txt [+ negative_samples.txt]) or as a recai catalog SQLite file. "
                    "Files are written atomically.",
        epilog="examples:\n  recai data convert ml-latest-small --to recai --out data/movies\n"
               "  recai data convert ml-100k --to catalog --out ml100k.db\n"
               "  recai data convert ratings.csv --columns user=uid,item=sku,time=ts --to recai --out out/",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dataset", help="registered name or path")
    p.add_argument("--to", choices=FORMATS, default="recai", help="output layout (default recai)")
    p.add_argument("--out", required=True, help="output directory (recai) or .db file (catalog)")
    p.add_argument("--kcore", type=int, default=0, help="apply a k-core filter (users and items) first")
    _add_source_args(p)
    p.set_defaults(func=cmd_convert)


def _add_source_args(p) -> None:
    p.add_argument("--columns", help="for CSV/JSONL input: role=column pairs, e.g. user=uid,item=sku,time=ts,rating=r "
                                     "(default user=user,item=item)")
    p.add_argument("--items", help="for CSV/JSONL input: item file with id and title columns")
    p.add_argument("--skip-bad", action="store_true", help="skip malformed rows (and count them) instead of failing")


def load_from_args(args):
    """The dataset named by a command's positional argument and its --columns/--items/--skip-bad."""
    import recai.data as rd
    from recai.errors import DataError

    options = {}
    if args.columns:
        try:
            options["columns"] = dict(pair.split("=", 1) for pair in args.columns.split(","))
        except ValueError:
            raise DataError(f"--columns {args.columns!r}: expected role=column pairs separated by commas") from None
    if args.items:
        options["items"] = args.items
    return rd.load(args.dataset, skip_bad=args.skip_bad, **options)


def cmd_info(args) -> int:
    ds = load_from_args(args)
    info = ds.info()
    if args.json:
        print(json.dumps(info, indent=2, ensure_ascii=False))
        return 0
    print(format_info(info, ds.catalog.describe()))
    return 0


def cmd_convert(args) -> int:
    import recai.data as rd

    ds = load_from_args(args)
    if args.kcore:
        ds = ds.kcore(args.kcore, args.kcore)
    out = Path(args.out)
    written = rd.save_recai(ds, out) if args.to == "recai" else ds.catalog.save(out)
    print(written)
    return 0


def format_info(info: dict, schema: str) -> str:
    """The human-readable `recai data info` text."""
    lines = [f"{info['name']}  ({info['source']})",
             f"  items {info['items']:,} ({info['items_with_interactions']:,} with interactions), "
             f"users {info['users']:,}, interactions {info['interactions']:,}, sparsity {info['sparsity']:.4%}",
             f"  history length: {_spread(info['history_length'])}",
             f"  weights: {_spread(info['weights'])}; timestamps: {'yes' if info['has_timestamps'] else 'no (file order)'}"]
    if "negatives_per_user" in info:
        lines.append(f"  negatives per user: {_spread(info['negatives_per_user'])}")
    if "skipped_rows" in info:
        lines.append("  skipped rows: " + ", ".join(f"{k} ×{v}" for k, v in info["skipped_rows"].items()))
    lines.append("schema:")
    lines += ["  " + line for line in schema.splitlines()]
    lines.append("attributes:")
    for name, a in info["attributes"].items():
        rest = {k: v for k, v in a.items() if k not in ("type", "coverage", "top")}
        extra = ", ".join(f"{k} {v}" for k, v in rest.items())
        top = f"; top: {', '.join(map(str, a['top'][:6]))}" if a.get("top") else ""
        lines.append(f"  {name} ({a['type']}): coverage {a['coverage']:.1%}{', ' + extra if extra else ''}{top}")
    return "\n".join(lines)


def _spread(s: dict) -> str:
    return " / ".join(f"{k} {v}" for k, v in s.items()) if s else "-"
