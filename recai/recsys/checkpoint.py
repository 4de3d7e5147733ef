"""A recommender on disk: `model.safetensors` (tensors) + `config.json` ({"kind": ..., "config": {...}}).

Both files are written under a temporary name and renamed into place, config.json last, so a
reader never sees half a file and a folder with a config.json has its tensors.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from recai.data.atomic import atomic_path, atomic_text
from recai.errors import CheckpointError

FORMAT_VERSION = 1
WEIGHTS = "model.safetensors"
CONFIG = "config.json"


def write_checkpoint(directory: str | Path, kind: str, config: dict, tensors: dict[str, torch.Tensor]) -> Path:
    """Write `tensors` and `{"kind", "format_version", "config"}` into `directory` (created). Returns it."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    with atomic_path(directory / WEIGHTS) as tmp:
        # safetensors refuses views and shared storage; contiguous CPU copies are always accepted.
        save_file({k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}, str(tmp))
    meta = {"kind": kind, "format_version": FORMAT_VERSION, "config": config}
    with atomic_text(directory / CONFIG) as f:
        f.write(json.dumps(meta, indent=2) + "\n")
    return directory


def read_checkpoint(directory: str | Path) -> tuple[str, dict, dict[str, torch.Tensor]]:
    """(kind, config, tensors) from a folder written by `write_checkpoint`.

    Raises CheckpointError naming the file when a file is missing, unreadable, or config.json has
    no "kind" or a "config" that is not an object.
    """
    directory = Path(directory)
    cfg = directory / CONFIG
    if not cfg.is_file():
        raise CheckpointError(f"{cfg}: not found; a recsys model folder holds {CONFIG} and {WEIGHTS}")
    try:
        meta = json.loads(cfg.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{cfg}: unreadable JSON: {e}") from e
    if not isinstance(meta, dict) or not isinstance(meta.get("kind"), str):
        got = meta.get("kind") if isinstance(meta, dict) else meta
        raise CheckpointError(f"{cfg}: no string field \"kind\" (got {got!r})")
    if not isinstance(meta.get("config", {}), dict):
        raise CheckpointError(f"{cfg}: field \"config\" must be an object, got {type(meta['config']).__name__}")
    weights = directory / WEIGHTS
    if not weights.is_file():
        raise CheckpointError(f"{weights}: not found (config.json says kind {meta['kind']!r})")
    try:
        tensors = load_file(str(weights))
    except (SafetensorError, OSError) as e:
        raise CheckpointError(f"{weights}: unreadable safetensors file: {e}") from e
    return meta["kind"], meta.get("config", {}), tensors


def check_tensors(where: str | Path, expected: dict[str, tuple[int, ...]], got: dict[str, torch.Tensor]) -> None:
    """CheckpointError listing missing, unexpected and mis-shaped tensors, if any."""
    missing = sorted(set(expected) - set(got))
    unexpected = sorted(set(got) - set(expected))
    shapes = sorted(f"{k}: expected {tuple(expected[k])}, got {tuple(got[k].shape)}"
                    for k in set(expected) & set(got) if tuple(got[k].shape) != tuple(expected[k]))
    if missing or unexpected or shapes:
        raise CheckpointError(f"{where}: tensors do not match the config: missing {missing}, "
                              f"unexpected {unexpected}, mis-shaped {shapes}")
