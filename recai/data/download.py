"""Full public recommendation datasets, downloaded once into the cache and verified.

    download("ml-1m")        -> ~/.cache/recai/datasets/ml-1m/ml-1m     (ratings.dat, movies.dat, ...)
    download("amazon-video-games") -> .../datasets/amazon-video-games   (Video_Games_5.json.gz, meta_...)

Sources (see `available()`): MovieLens 100K, 1M and latest-small from files.grouplens.org; the
per-category 5-core reviews and item metadata of the Amazon Review Data (2018) by Ni, Li and
McAuley; the Steam reviews and game metadata of the SASRec paper (Kang and McAuley, 2018). Each
comes under its publisher's terms, summed up in the registry's `license`; read them before use.

Layout, under `$RECAI_HOME/datasets/<name>/` (default ~/.cache/recai) or the `dest` given:

    <file>                     each download, kept as published: zips stay beside their contents
    <file>.part                an unfinished download; the next call resumes it (HTTP Range)
    <file>.sha256              the hash recorded on first download, when none is published (below)
    <folder>/                  a zip's contents, extracted into a temporary folder and renamed here
    .complete.json             written last: the dataset is whole, later calls return at once

Checksums. A file whose sha256 has been published (the MovieLens zips: TensorFlow Datasets lists
url, size and sha256 for each in tensorflow_datasets/url_checksums/movielens.txt) is checked
against that hash, and a mismatch deletes the download. Neither the Amazon nor the Steam files have
a published hash, and recai does not make one up: their registry entry says `sha256=None`, the
first download is trusted, its hash written to `<file>.sha256` (sha256sum format) and the user told
so on stderr. Every later download or re-verification of that file is compared with the record,
so a file that changes upstream (or on a mirror) is refused; delete the record to accept it.

Mirrors. `base_url` (or $RECAI_DATASETS_URL) replaces the whole directory part of every URL:
a mirror is one flat folder serving the files under their upstream names, e.g.
`python -m http.server` in a folder holding ml-1m.zip, and `RECAI_DATASETS_URL=http://host:8000/`.
Published hashes still apply to files from a mirror.
"""
from __future__ import annotations

import difflib
import json
import os
import re
import shutil
import sys
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from recai.errors import FetchError
from recai.hub.files import CHUNK, cache_dir, hash_file, lock, move_into_place, stamp, stamped, write_text_atomic
from recai.hub.http import ChecksumMismatch, Missing, download_url
from recai.hub.progress import Progress, want_progress

__all__ = ["REGISTRY", "RemoteFile", "Source", "available", "dataset_dir", "download"]

ENV_URL = "RECAI_DATASETS_URL"
RETRIES = 5  # attempts per file, for connection errors, short bodies, 429 and 5xx
BACKOFF_S = 1.0  # first wait between attempts, doubled each time, capped at 30 s
TIMEOUT = (10, 120)  # seconds: connect, and between two reads (university servers can stall)
_HEX64 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class RemoteFile:
    """One published file. `unpacks_to`: for a zip, the top folder it holds (extracted after checks)."""

    url: str
    sha256: str | None = None  # None: nothing trustworthy published, trusted on first download
    size: int | None = None  # bytes, when published with the hash
    unpacks_to: str | None = None

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class Source:
    """A downloadable dataset: its files, the folder `download` returns, and its terms of use."""

    name: str
    description: str  # one line, shown by `available()`
    files: tuple[RemoteFile, ...]
    license: str
    homepage: str
    folder: str = ""  # relative to the dataset directory: where the ready files are

    def __post_init__(self):
        for f in self.files:
            if f.sha256 is not None and not _HEX64.fullmatch(f.sha256):
                raise ValueError(f"dataset {self.name}: sha256 {f.sha256!r} of {f.url} is not 64 hex digits")


# ---- the registry ----

_GROUPLENS = "https://files.grouplens.org/datasets/movielens"
_GROUPLENS_TERMS = ("GroupLens usage license: research use only, acknowledge the dataset in "
                    "publications, no commercial use without permission; see the README in the zip")


def _movielens(name, description, size, sha256, note="") -> Source:
    # Hash and size: tensorflow/datasets, tensorflow_datasets/url_checksums/movielens.txt.
    zip_ = RemoteFile(f"{_GROUPLENS}/{name}.zip", sha256, size, unpacks_to=name)
    return Source(name, description, (zip_,), _GROUPLENS_TERMS + note,
                  "https://grouplens.org/datasets/movielens/", folder=name)


# The 2018 release of the Amazon review data; 5-core review files and per-category metadata.
_AMAZON = "https://mcauleylab.ucsd.edu/public_datasets/data/amazon_v2"
_AMAZON_CATEGORIES = (
    "AMAZON_FASHION", "All_Beauty", "Appliances", "Arts_Crafts_and_Sewing", "Automotive", "Books",
    "CDs_and_Vinyl", "Cell_Phones_and_Accessories", "Clothing_Shoes_and_Jewelry", "Digital_Music",
    "Electronics", "Gift_Cards", "Grocery_and_Gourmet_Food", "Home_and_Kitchen",
    "Industrial_and_Scientific", "Kindle_Store", "Luxury_Beauty", "Magazine_Subscriptions",
    "Movies_and_TV", "Musical_Instruments", "Office_Products", "Patio_Lawn_and_Garden",
    "Pet_Supplies", "Prime_Pantry", "Software", "Sports_and_Outdoors", "Tools_and_Home_Improvement",
    "Toys_and_Games", "Video_Games",
)
_AMAZON_TERMS = ("Amazon Review Data (2018), Ni, Li and McAuley, EMNLP 2019: for research use; "
                 "cite the paper. No published checksums: trusted on first download")


def _amazon(category: str) -> Source:
    slug = "fashion" if category == "AMAZON_FASHION" else category.lower().replace("_", "-")
    pretty = category.replace("_and_", " & ").replace("_", " ").replace("AMAZON FASHION", "Fashion")
    files = (RemoteFile(f"{_AMAZON}/categoryFilesSmall/{category}_5.json.gz"),
             RemoteFile(f"{_AMAZON}/metaFiles2/meta_{category}.json.gz"))
    return Source(f"amazon-{slug}", f"Amazon 2018 {pretty}: 5-core reviews and item metadata (JSON lines, gz)",
                  files, _AMAZON_TERMS, "https://cseweb.ucsd.edu/~jmcauley/datasets/amazon_v2/")


_STEAM = Source(
    "steam",
    "Steam (SASRec paper): 7.8M reviews of 15k games by 2.6M users, game metadata "
    "(one Python dict literal per line, gz)",
    (RemoteFile("https://cseweb.ucsd.edu/~wckang/steam_reviews.json.gz"),
     RemoteFile("https://cseweb.ucsd.edu/~wckang/steam_games.json.gz")),
    "Kang and McAuley, Self-Attentive Sequential Recommendation, ICDM 2018: for research use; "
    "cite the paper. No published checksums: trusted on first download",
    "https://cseweb.ucsd.edu/~jmcauley/datasets.html#steam_data",
)

REGISTRY: dict[str, Source] = {s.name: s for s in (
    _movielens("ml-100k", "MovieLens 100K: 100,000 ratings (1-5) by 943 users on 1,682 movies, 1998",
               4924029, "50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229"),
    _movielens("ml-1m", "MovieLens 1M: 1,000,209 ratings (1-5) by 6,040 users on 3,706 movies, 2003",
               5917549, "a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20"),
    _movielens("ml-latest-small",
               "MovieLens latest-small: 100,836 ratings and 3,683 tags by 610 users on 9,742 movies (2018)",
               978202, "696d65a3dfceac7c45750ad32df2c259311949efec81f0f144fdfb91ebc9e436",
               note="; a 'development' snapshot GroupLens may replace, which then fails the checksum"),
    *(_amazon(c) for c in _AMAZON_CATEGORIES),
    _STEAM,
)}


def available() -> list[str]:
    """One line per registered dataset: its name, padded, then its description."""
    width = max(map(len, REGISTRY))
    return [f"{name:<{width}}  {REGISTRY[name].description}" for name in sorted(REGISTRY)]


def dataset_dir(name: str) -> Path:
    """Where `download(name)` keeps a dataset by default: $RECAI_HOME/datasets/<name> (not created)."""
    return cache_dir() / "datasets" / name


def local_path(name: str) -> Path | None:
    """The folder of a registered dataset already downloaded (and verified) into the cache, else None."""
    source = REGISTRY.get(name)
    if source is None or not _complete(source, dataset_dir(name)):
        return None
    return dataset_dir(name) / source.folder


# ---- downloading ----


def download(name: str, *, dest: str | os.PathLike | None = None, progress: bool | None = None,
             base_url: str | None = None) -> Path:
    """Download, verify and unpack a registered dataset; return the folder holding its files.

    Instant when an earlier call finished it and its files still match their checksums.
    name: a name from `available()`, e.g. "ml-1m", "amazon-video-games", "steam".
    dest: the dataset directory; default `dataset_dir(name)`.
    progress: one updating stderr line per file; None means only when stderr is a terminal.
    base_url: a mirror serving the files under their upstream names; default $RECAI_DATASETS_URL,
        else the publishers' own servers.
    Raises FetchError, naming the dataset, URL and what to do, for an unknown name, a 404, a
    failed or truncated download once retries are spent, a checksum mismatch (the bad file is
    deleted), or a zip that does not extract.
    """
    source = _lookup(name)
    root = Path(dest).expanduser() if dest is not None else dataset_dir(name)
    base = base_url if base_url is not None else os.environ.get(ENV_URL) or None
    if _complete(source, root):
        return root / source.folder
    show = want_progress(progress)
    import requests

    notices: list[str] = []
    try:
        with lock(f"datasets--{name}", show), requests.Session() as session, Progress(show) as bar:
            if _complete(source, root):  # another process finished it while we waited
                return root / source.folder
            root.mkdir(parents=True, exist_ok=True)
            session.headers["User-Agent"] = "recai-datasets"
            hashes = {}
            for f in source.files:
                url = _url(f, base)
                actual = _fetch(session, source, f, url, root, bar)
                # Checked before anything is recorded: a first download that is an error page or
                # a broken zip must not become the trusted hash.
                _unpack_or_check(source, f, url, root)
                hashes[f.filename] = _accept(root, f, actual, url, source, notices)
            marker = {"name": name, "sha256": hashes}
            write_text_atomic(root / ".complete.json", json.dumps(marker, indent=1) + "\n")
    finally:
        # Said whatever `progress` is (the user should know a file was trusted, not checked), and
        # after the progress line is finished so the two don't share a line.
        for notice in notices:
            print(notice, file=sys.stderr, flush=True)
    return root / source.folder


def _lookup(name: str) -> Source:
    if name in REGISTRY:
        return REGISTRY[name]
    close = difflib.get_close_matches(name, REGISTRY, n=3)
    maybe = f" Did you mean {', '.join(close)}?" if close else ""
    raise FetchError(f"unknown dataset {name!r}.{maybe} Known datasets: {', '.join(sorted(REGISTRY))} "
                     "(`recai data download --list` describes them)")


def _url(f: RemoteFile, base: str | None) -> str:
    """The upstream URL, or the same file name under a mirror's base URL."""
    return f"{base.rstrip('/')}/{f.filename}" if base else f.url


def _complete(source: Source, root: Path) -> bool:
    """Whether an earlier call finished this dataset and every file still carries its stamp."""
    try:
        marker = json.loads((root / ".complete.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    for f in source.files:
        expected = f.sha256 or marker.get("sha256", {}).get(f.filename)
        if not expected or not stamped(root / f.filename, expected):
            return False
        if f.unpacks_to and not (root / f.unpacks_to).is_dir():
            return False
    return (root / source.folder).is_dir()


def _fetch(session, source: Source, f: RemoteFile, url: str, root: Path, bar: Progress) -> str:
    """`root/f.filename` downloaded unless present, matching its published or recorded sha256.

    Returns the file's sha256. A present file that no longer matches is deleted and downloaded again.
    """
    target = root / f.filename
    record = root / (f.filename + ".sha256")
    expected = f.sha256 or _read_record(record, source)
    if target.is_file():
        if expected and stamped(target, expected):
            return expected
        # Copied in by hand, or finished by a call that died before stamping: hash it once.
        actual = hash_file(target).hexdigest()
        if actual == (expected or actual):
            return actual
        target.unlink()
    what = f"dataset {source.name}"
    try:
        return download_url(session, url, target, bar, what=what, sha256=expected, size=f.size,
                            attempts=RETRIES, backoff_s=BACKOFF_S, timeout=TIMEOUT, chunk=CHUNK,
                            hint=_hint(source, f, url))
    except Missing as e:
        raise FetchError(f"{what}: {url} not found (404). {_hint(source, f, url)}") from e
    except ChecksumMismatch as e:
        if f.sha256 is None:
            raise FetchError(
                f"{e}. The expected hash was recorded in {record} when {f.filename} was first "
                "downloaded, and the file has changed since; delete that record to accept the new file."
            ) from e
        raise


def _accept(root: Path, f: RemoteFile, actual: str, url: str, source: Source, notices: list[str]) -> str:
    """Stamp a checked file. The first copy of an unpublished file gets its hash recorded, and a
    notice saying so is appended to `notices`."""
    target, record = root / f.filename, root / (f.filename + ".sha256")
    if f.sha256 is None and not record.is_file():
        write_text_atomic(record, f"{actual}  {f.filename}\n")
        notices.append(f"recai: {source.name}: no sha256 is published for {f.filename}; trusted this "
                       f"first copy (from {url}) and recorded its sha256 {actual} in {record}. Later "
                       "downloads must match it.")
    stamp(target, actual)
    return actual


def _read_record(record: Path, source: Source) -> str | None:
    """The sha256 written on first download, or None when there is none yet."""
    try:
        text = record.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    value = (text.split() or [""])[0].lower()
    if not _HEX64.fullmatch(value):
        raise FetchError(f"dataset {source.name}: {record} does not start with a sha256 (64 hex digits); "
                         "delete it to trust the next download")
    return value


def _hint(source: Source, f: RemoteFile, url: str) -> str:
    if url != f.url:
        return f"Check the mirror (${ENV_URL} or base_url): it should serve {f.filename} at {url}."
    return (f"Check the network connection, and {source.homepage} in case the file has moved "
            f"(${ENV_URL} can point at a mirror holding it).")


# ---- checking the content ----


def _unpack_or_check(source: Source, f: RemoteFile, url: str, root: Path) -> None:
    """Extract a zip; check that a .gz starts with the gzip magic bytes. Deletes a file that fails."""
    if f.unpacks_to:
        _extract(source, f, url, root)
        return
    path = root / f.filename
    if f.filename.endswith(".gz"):
        with open(path, "rb") as fh:
            magic = fh.read(2)
        if magic != b"\x1f\x8b":
            path.unlink()
            raise FetchError(f"dataset {source.name}: {url} did not send a gzip file (it starts with "
                             f"{magic!r}, not 1f 8b); it may be an error page. Nothing was kept. "
                             f"{_hint(source, f, url)}")


def _extract(source: Source, f: RemoteFile, url: str, root: Path) -> None:
    """Unpack the verified zip `root/f.filename` into `root/f.unpacks_to`, atomically.

    The members go into a temporary folder beside the target, which is renamed into place only once
    every member has been read and CRC-checked. A zip that fails is deleted.
    """
    archive = root / f.filename
    for stale in root.glob(f".{f.unpacks_to}-*/"):  # left by a run killed mid-extraction
        shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{f.unpacks_to}-", dir=root))
    try:
        with zipfile.ZipFile(archive) as z:
            for member in z.namelist():
                parts = Path(member).parts
                # zipfile would sanitise these, but a dataset zip holding them is not the published one.
                if member.startswith(("/", "\\")) or ".." in parts:
                    raise zipfile.BadZipFile(f"unsafe member name {member!r}")
            z.extractall(tmp)
        staged = tmp / f.unpacks_to
        if not staged.is_dir():
            got = sorted(p.name for p in tmp.iterdir())
            raise zipfile.BadZipFile(f"no top folder {f.unpacks_to!r}, found {got}")
        move_into_place(staged, root / f.unpacks_to, is_folder=True)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as e:
        archive.unlink(missing_ok=True)  # its stamp, if any, no longer matches a file
        raise FetchError(
            f"dataset {source.name}: {f.filename} from {url} failed to extract ({e}); it was deleted. "
            "Run the download again; if this repeats, the file on the server is damaged."
        ) from e
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
