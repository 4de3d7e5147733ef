"""Training checkpoints that appear whole or not at all, and resume exactly.

    out_dir/step-000120/state.pt     trainable tensors, optimizer, step, config, model fingerprint
    out_dir/step-000120/adapter/     LoRA runs: the adapter in PEFT's layout, ready to use
    out_dir/latest                   the name of the newest complete checkpoint

A checkpoint is written into a temporary folder and renamed into place, then `latest` is
replaced atomically; a crash at any point leaves the previous checkpoint as the newest one that
loads. Randomness needs no saved generator state: each step reseeds from (seed, step, rank), and
the data order is a pure function of (seed, epoch), so step N after a resume is step N of the
uninterrupted run.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import torch
from torch import nn

from recai.errors import CheckpointError

STATE = "state.pt"
LATEST = "latest"


def fingerprint(model: nn.Module) -> dict[str, list[int]]:
    """Every parameter's name and shape: what a checkpoint must agree with to be resumed into `model`."""
    return {n: list(p.shape) for n, p in model.named_parameters()}


def trainable_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.detach().cpu().clone() for n, p in model.named_parameters() if p.requires_grad}


def save_checkpoint(out_dir: str | Path, step: int, model: nn.Module, optimizer, config: dict,
                    keep: int = 2, extra: dict | None = None) -> Path:
    """Write checkpoint `step` (the number of optimizer steps done) under out_dir; returns its folder."""
    from recai.nn.lora import lora_layers

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    final = out_dir / f"step-{step:06d}"
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=out_dir))
    try:
        state = {"step": step, "model": trainable_state(model), "optimizer": optimizer.state_dict(),
                 "config": config, "fingerprint": fingerprint(model), "extra": extra or {}}
        torch.save(state, tmp / STATE)
        if lora_layers(model):
            from recai.nn.lora_peft import save_adapter

            save_adapter(model, tmp / "adapter")
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    _write_latest(out_dir, final.name)
    _prune(out_dir, keep)
    return final


def _write_latest(out_dir: Path, name: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".latest.", dir=out_dir)
    with os.fdopen(fd, "w") as f:
        f.write(name + "\n")
    os.replace(tmp, out_dir / LATEST)


def _prune(out_dir: Path, keep: int) -> None:
    steps = sorted(p for p in out_dir.glob("step-*") if p.is_dir())
    for old in steps[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)


def find_checkpoint(path: str | Path) -> Path:
    """A checkpoint folder: `path` itself, or the one an out_dir's `latest` names. CheckpointError when none."""
    path = Path(path)
    if (path / STATE).is_file():
        return path
    latest = path / LATEST
    if latest.is_file():
        target = path / latest.read_text().strip()
        if (target / STATE).is_file():
            return target
        raise CheckpointError(f"{latest} names {target.name}, which holds no {STATE}")
    raise CheckpointError(f"{path}: no training checkpoint here (no {STATE}, no {LATEST})")


def load_checkpoint(path: str | Path, model: nn.Module, optimizer=None) -> dict:
    """Restore trainable tensors (and the optimizer) from a checkpoint; returns its state dict.

    Raises CheckpointError naming the checkpoint when it was written for another model (parameter
    names or shapes differ) or is unreadable.
    """
    folder = find_checkpoint(path)
    try:
        state = torch.load(folder / STATE, map_location="cpu", weights_only=True)
    except (RuntimeError, OSError, EOFError, ValueError) as e:
        raise CheckpointError(f"{folder / STATE}: unreadable checkpoint: {e}") from e
    _check_fingerprint(state.get("fingerprint", {}), fingerprint(model), folder)
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, tensor in state["model"].items():
            params[name].copy_(tensor)
    for name, p in params.items():
        p.requires_grad_(name in state["model"])
    if optimizer is not None:
        optimizer.load_state_dict(state["optimizer"])
    return state


def _check_fingerprint(saved: dict, current: dict, folder: Path) -> None:
    missing = sorted(set(current) - set(saved))
    unexpected = sorted(set(saved) - set(current))
    misshaped = [f"{n}: checkpoint {tuple(saved[n])} vs model {tuple(current[n])}"
                 for n in sorted(set(saved) & set(current)) if list(saved[n]) != list(current[n])]
    if missing or unexpected or misshaped:
        lines = [f"{folder}: checkpoint was written for another model"]
        for title, items in (("not in the checkpoint", missing), ("not in the model", unexpected),
                             ("mis-shaped", misshaped)):
            if items:
                lines.append(f"  {title}: " + ", ".join(items[:8]) + (f", ... ({len(items)})" if len(items) > 8 else ""))
        raise CheckpointError("\n".join(lines))
