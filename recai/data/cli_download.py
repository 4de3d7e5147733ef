"""`recai data download NAME | --list`: the pieces recai/cli.py registers under `recai data`."""
from __future__ import annotations

import argparse
from pathlib import Path


def add_download_parser(sub) -> None:
    """Add the `download` subcommand to `sub`, the subparsers of `recai data`."""
    p = sub.add_parser(
        "download", help="download a full public dataset (MovieLens, Amazon 2018, Steam) into the cache",
        description="Download a registered public recommendation dataset once into "
                    "$RECAI_HOME/datasets/NAME (default ~/.cache/recai), resuming an interrupted "
                    "download, verify every file's sha256, unpack zips, and print the folder holding "
                    "the ready files. Files with no published checksum are trusted on first download "
                    "and their hash recorded beside them; later downloads must match it.",
        epilog="examples:\n"
               "  recai data download --list\n"
               "  recai data download ml-1m\n"
               "  recai data download amazon-video-games --dest data/games\n"
               "  RECAI_DATASETS_URL=http://mirror.local/recai/ recai data download steam\n\n"
               "Each dataset comes under its publisher's terms (research use; cite the paper); "
               "see recai.data.download.REGISTRY[NAME].license.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", nargs="?", help="dataset name, e.g. ml-1m, amazon-books, steam (see --list)")
    p.add_argument("--list", action="store_true", help="list the dataset names with a line about each, then exit")
    p.add_argument("--dest", type=Path, default=None,
                   help="put the dataset in this folder instead of $RECAI_HOME/datasets/NAME")
    p.add_argument("--base-url", default=None,
                   help="a mirror serving the files under their upstream names "
                        "(default: $RECAI_DATASETS_URL, else the publishers' servers)")
    p.add_argument("--quiet", action="store_true",
                   help="no progress line on stderr (by default shown when stderr is a terminal)")
    p.set_defaults(func=cmd_download)


def cmd_download(args) -> int:
    """Print the dataset's folder on stdout (or the list of datasets); errors propagate as FetchError."""
    from recai.data.download import available, download

    if args.list or not args.name:
        print("\n".join(available()))
        return 0
    progress = False if args.quiet else None
    print(download(args.name, dest=args.dest, progress=progress, base_url=args.base_url))
    return 0
