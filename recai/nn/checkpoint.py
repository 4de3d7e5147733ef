"""Pieces every HF-style checkpoint loader here shares: {}-templated name maps, reading safetensors
files (single or sharded), a JSON config, and the check that names what is missing, unexpected or
mis-shaped before any tensor is assigned."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import torch

from recai.errors import CheckpointError


def map_name(name: str, table: dict[str, str]) -> str | None:
    """Translate one checkpoint key through a {}-templated table; None when it is not in the table."""
    if name in table:
        return table[name]
    parts = name.split(".")
    for i, p in enumerate(parts):
        if p.isdigit():
            key = ".".join(parts[:i] + ["{}"] + parts[i + 1:])
            if key in table:
                return table[key].format(p)
    return None


def invert(table: dict[str, str]) -> dict[str, str]:
    return {v: k for k, v in table.items()}


def read_json(path: Path) -> dict:
    """A JSON object from `path`; CheckpointError naming the file when it is missing or invalid."""
    if not path.exists():
        raise CheckpointError(f"{path}: not found")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path}: invalid JSON: {e}") from e
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def safetensors_files(directory: Path) -> list[Path]:
    """The shards a `model.safetensors.index.json` lists, else every `*.safetensors` in the folder."""
    index = directory / "model.safetensors.index.json"
    if index.exists():
        try:
            weight_map = read_json(index)["weight_map"]
        except KeyError as e:
            raise CheckpointError(f"{index}: invalid shard index: no {e}") from e
        return [directory / name for name in sorted(set(weight_map.values()))]
    files = sorted(directory.glob("*.safetensors"))
    if not files:
        raise CheckpointError(f"{directory}: no model.safetensors or model.safetensors.index.json")
    return files


def read_safetensors(files: list[Path]) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError, safe_open

    out = {}
    for f in files:
        if not f.exists():
            raise CheckpointError(f"{f}: shard listed in the index is missing")
        try:
            with safe_open(str(f), framework="pt") as st:
                for k in st.keys():
                    out[k] = st.get_tensor(k)
        except (SafetensorError, OSError, RuntimeError) as e:
            raise CheckpointError(f"{f}: unreadable safetensors file (truncated or corrupt?): {e}") from e
    return out


def check_state(expected: dict[str, tuple], state: dict[str, torch.Tensor], source: Path) -> None:
    """CheckpointError listing missing, unexpected and mis-shaped tensors (up to 12 of each), if any."""
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    misshaped = [f"{k}: file {tuple(state[k].shape)} vs config {tuple(expected[k])}"
                 for k in sorted(set(expected) & set(state)) if tuple(state[k].shape) != tuple(expected[k])]
    if missing or unexpected or misshaped:
        lines = [f"{source}: checkpoint does not match its config"]
        for title, items in (("missing", missing), ("unexpected", unexpected), ("mis-shaped", misshaped)):
            if items:
                shown = ", ".join(items[:12]) + (f", ... ({len(items)} in all)" if len(items) > 12 else "")
                lines.append(f"  {title}: {shown}")
        raise CheckpointError("\n".join(lines))


def atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
