"""`load(name_or_path)`: a Dataset from a registered name or from files in any supported layout."""
from __future__ import annotations

import importlib.util
from pathlib import Path

from recai.data.dataset import Dataset
from recai.data.loaders.common import BadRows
from recai.errors import DataError

SHIPPED = Path(__file__).resolve().parent.parent / "datasets"
DEFAULT = "ml-latest-small"

# Directory layouts, recognised by the files they contain (first match wins).
LAYOUTS = (
    ("movielens-latest", ("ratings.csv", "movies.csv")),
    ("movielens-100k", ("u.data", "u.item")),
    ("movielens-1m", ("ratings.dat", "movies.dat")),
    ("lastfm-hetrec", ("user_artists.dat", "artists.dat")),
    ("recai", ("metadata.json", "sequential_data.txt")),
)


def load(name_or_path: str | Path = DEFAULT, *, skip_bad: bool = False, **options) -> Dataset:
    """A Dataset by registered name or path.

    Names: `ml-latest-small` (shipped in the package, the default), `ml-100k` (RecBole's copy when
    recbole is installed, else a downloaded copy), and every name `recai data download --list`
    shows once downloaded. Paths: a directory in the MovieLens latest/100K/1M, HetRec Last.fm,
    RecAI or RecBole atomic layout, a RecBole `.inter` file, or a CSV/TSV/JSONL interactions file
    (options: columns, items, item_columns, list_columns; see `recai.data.loaders.tabular`).

    skip_bad: skip malformed rows and unknown item ids, counted in `Dataset.skipped`, instead of
    raising DataError with the file and line.
    """
    bad = BadRows(skip_bad)
    path = Path(name_or_path)
    if not path.exists():
        return _load_name(str(name_or_path), bad, options)
    if path.is_file():
        return _load_file(path, bad, options)
    return _load_dir(path, path.name, bad, options)


def _load_name(name: str, bad: BadRows, options: dict) -> Dataset:
    if name in (DEFAULT, "default"):
        return _load_dir(SHIPPED / DEFAULT, DEFAULT, bad, options)
    if name == "ml-100k":
        found = recbole_ml100k()
        if found is not None:
            return _load_file(found, bad, options, name="ml-100k")
    if "/" in name or "\\" in name or name.startswith("."):
        raise DataError(f"{name}: no such file or directory")
    downloaded = _downloaded(name)
    if downloaded is not None:
        return _load_dir(downloaded, name, bad, options)
    hint = ("install recbole (pip install recbole==1.2.1, it ships ML-100K) or run "
            "`recai data download ml-100k`" if name == "ml-100k" else
            f"run `recai data download {name}` first, or pass a path")
    raise DataError(f"dataset {name!r} is neither a path nor available here: {hint}. "
                    f"The shipped default is {DEFAULT!r}.")


def recbole_ml100k() -> Path | None:
    """RecBole's bundled ML-100K atomic file, found without importing recbole (it is slow to import)."""
    spec = importlib.util.find_spec("recbole")
    if spec is None or not spec.submodule_search_locations:
        return None
    inter = Path(list(spec.submodule_search_locations)[0]) / "dataset_example" / "ml-100k" / "ml-100k.inter"
    return inter if inter.is_file() else None


def _downloaded(name: str) -> Path | None:
    try:
        from recai.data.download import local_path
    except ImportError:
        return None
    return local_path(name)


def _load_file(path: Path, bad: BadRows, options: dict, name: str | None = None) -> Dataset:
    if path.suffix == ".inter":
        from recai.data.loaders.recbole import load_atomic

        ds = load_atomic(path, bad)
        ds.name = name or ds.name
        return ds
    if path.suffix in (".csv", ".tsv", ".tab", ".jsonl", ".json", ".ndjson"):
        from recai.data.loaders.tabular import load_table

        return load_table(path, bad, name=name, **options)
    raise DataError(f"{path}: unsupported file type {path.suffix!r}; give a directory, a RecBole .inter file, "
                    "or a .csv/.tsv/.jsonl interactions file")


def _load_dir(root: Path, name: str, bad: BadRows, options: dict) -> Dataset:
    if options:
        raise DataError(f"{root}: options {sorted(options)} apply only to CSV/JSONL files")
    layout = detect_layout(root)
    if layout == "movielens-latest":
        from recai.data.loaders.movielens import load_latest
        return load_latest(root, name, bad)
    if layout == "movielens-100k":
        from recai.data.loaders.movielens import load_100k
        return load_100k(root, name, bad)
    if layout == "movielens-1m":
        from recai.data.loaders.movielens import load_1m
        return load_1m(root, name, bad)
    if layout == "lastfm-hetrec":
        from recai.data.loaders.lastfm import load_lastfm
        return load_lastfm(root, name, bad)
    if layout == "recai":
        from recai.data.loaders.recai_layout import load_recai
        return load_recai(root, name, bad)
    if layout == "steam":
        from recai.data.loaders.ucsd import load_steam
        return load_steam(root, name, bad)
    if layout == "amazon":
        from recai.data.loaders.ucsd import load_amazon
        return load_amazon(root, name, bad)
    from recai.data.loaders.recbole import load_atomic
    return load_atomic(_single_inter(root), bad)


def detect_layout(root: Path) -> str:
    """The layout name of a dataset directory, or DataError listing what was looked for."""
    for layout, files in LAYOUTS:
        if all((root / f).is_file() for f in files):
            return layout
    if (root / "steam_reviews.json.gz").is_file() and (root / "steam_games.json.gz").is_file():
        return "steam"
    from recai.data.loaders.ucsd import amazon_files
    if amazon_files(root) is not None:
        return "amazon"
    if list(root.glob("*.inter")):
        return "recbole"
    known = "; ".join(f"{layout}: {' + '.join(files)}" for layout, files in LAYOUTS)
    raise DataError(f"{root}: no known dataset layout (looked for {known}; steam: steam_reviews.json.gz + "
                    "steam_games.json.gz; amazon: CATEGORY_5.json.gz + meta_CATEGORY.json.gz; recbole: NAME.inter)")


def _single_inter(root: Path) -> Path:
    found = sorted(root.glob("*.inter"))
    if len(found) != 1:
        raise DataError(f"{root}: expected one RecBole .inter file, found {[p.name for p in found]}")
    return found[0]
