"""LoRA adapters in PEFT's on-disk layout: adapter_config.json + adapter_model.safetensors.

    save_adapter(model, "runs/adapter")          # PEFT's PeftModel.from_pretrained(hf_model, ...) reads it
    load_adapter(model, "path/to/peft-adapter")  # applies LoRA to `model` and loads the weights

Keys follow PEFT's names for the HF module tree: our `layers.3.attention.wq` is HF's
`model.layers.3.self_attn.q_proj`, stored as `base_model.model.model.layers.3.self_attn.q_proj.lora_A.weight`
(and `lora_B`). Models without an HF name map (anything but `Llama`) keep our module names under
the same prefix, which recai reads back but PEFT cannot apply to a transformers model.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import torch
from torch import nn

from recai.errors import CheckpointError
from recai.nn.checkpoint import atomic_write, check_state, map_name, read_json
from recai.nn.lora import LoRALinear, apply_lora, lora_layers

CONFIG = "adapter_config.json"
WEIGHTS = "adapter_model.safetensors"
PREFIX = "base_model.model."
# PEFT config fields recai cannot honour: a value other than these defaults is refused on load.
UNSUPPORTED = {"use_dora": False, "fan_in_fan_out": False, "bias": "none", "modules_to_save": None,
               "layers_to_transform": None, "rank_pattern": {}, "alpha_pattern": {}}


def _module_map(model: nn.Module) -> dict[str, str] | None:
    """ours → HF module names ({}-templated), or None for a model without an HF name map."""
    from recai.nn.llama import Llama

    if not isinstance(model, Llama):
        return None
    from recai.nn.llama_weights import HF_TO_OURS

    return {ours[:-len(".weight")]: hf[:-len(".weight")] for hf, ours in HF_TO_OURS.items() if ours.endswith(".weight")}


def _hf_name(name: str, ours_to_hf: dict[str, str] | None) -> str:
    if ours_to_hf is None:
        return name
    hf = map_name(name, ours_to_hf)
    if hf is None:
        raise CheckpointError(f"LoRA layer {name!r} has no HF name; PEFT cannot address it")
    return hf


def save_adapter(model: nn.Module, directory: str | Path, base_model_name_or_path: str | None = None,
                 dtype: torch.dtype | None = None) -> Path:
    """Write the model's LoRA adapters in PEFT's layout; both files are written atomically.

    dtype stores the factors in another precision (float16 halves the file; loading casts them
    back to the model's dtype).

    Raises ValueError when the model has no LoRA layers or they differ in rank, alpha or rslora
    (PEFT's config holds one r and one alpha).
    """
    from safetensors.torch import save_file

    layers = lora_layers(model)
    if not layers:
        raise ValueError(f"{type(model).__name__} has no LoRA layers to save (apply_lora first)")
    kinds = {(m.r, m.alpha, m.rslora) for m in layers.values()}
    if len(kinds) > 1:
        raise ValueError(f"LoRA layers differ in (r, alpha, rslora): {sorted(kinds)}; PEFT's config holds one")
    (r, alpha, rslora), = kinds
    ours_to_hf = _module_map(model)
    state, targets = {}, set()
    for name, m in layers.items():
        hf = _hf_name(name, ours_to_hf)
        targets.add(hf.rsplit(".", 1)[-1])
        for key, factor in (("lora_A", m.lora_a), ("lora_B", m.lora_b)):
            factor = factor.detach().cpu()
            state[f"{PREFIX}{hf}.{key}.weight"] = (factor.to(dtype) if dtype else factor).contiguous()
    dropout = next(iter(layers.values())).dropout
    config = {
        "peft_type": "LORA", "task_type": "CAUSAL_LM" if ours_to_hf is not None else None,
        "r": r, "lora_alpha": alpha, "lora_dropout": getattr(dropout, "p", 0.0), "use_rslora": rslora,
        "target_modules": sorted(targets), "base_model_name_or_path": base_model_name_or_path,
        "inference_mode": True, "init_lora_weights": True, **UNSUPPORTED,
    }
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tmp = directory / f".{WEIGHTS}.tmp"
    save_file(state, str(tmp), metadata={"format": "pt"})
    tmp.replace(directory / WEIGHTS)
    atomic_write(directory / CONFIG, json.dumps(config, indent=2).encode())
    return directory


def merge_adapters(model: nn.Module, directories) -> nn.Module:
    """Load each adapter in turn and fold it into the weights (`merge_and_unload`), so a later one
    is trained on top of the earlier ones (SFT, then PPO). Returns the model, plain again."""
    from recai.nn.lora import merge_and_unload

    for directory in directories:
        load_adapter(model, directory)
        merge_and_unload(model)
    return model


def load_adapter(model: nn.Module, directory: str | Path) -> list[str]:
    """Apply the LoRA adapter saved in `directory` (by PEFT or recai) to `model`, frozen base.

    Returns the adapted module names. Raises CheckpointError naming the file for a missing or
    unsupported config (DoRA, bias training, modules_to_save, per-layer ranks), targets that match
    nothing in the model, or tensors that are missing, unexpected or mis-shaped for this model
    (an adapter trained on another model).
    """
    directory = Path(directory)
    config = read_json(directory / CONFIG)
    if config.get("peft_type") != "LORA":
        raise CheckpointError(f"{directory / CONFIG}: peft_type {config.get('peft_type')!r} is not LORA")
    for key, default in UNSUPPORTED.items():
        if config.get(key, default) not in (default, None, [], {}):
            raise CheckpointError(f"{directory / CONFIG}: {key}={config[key]!r} is not supported by recai's LoRA")
    for key in ("r", "lora_alpha", "target_modules"):
        if key not in config:
            raise CheckpointError(f"{directory / CONFIG}: no {key!r}")
    names = _target_names(model, config["target_modules"], directory / CONFIG)
    try:
        apply_lora(model, names, r=int(config["r"]), alpha=float(config["lora_alpha"]),
                   dropout=float(config.get("lora_dropout") or 0.0), rslora=bool(config.get("use_rslora")), aliases={})
    except ValueError as e:
        raise CheckpointError(f"{directory / CONFIG}: {e}") from e
    _load_weights(model, directory / WEIGHTS)
    return names


def _target_names(model: nn.Module, targets, source: Path) -> list[str]:
    """Our full module names for PEFT's target_modules (a list of leaf names or one regex)."""
    ours_to_hf = _module_map(model)
    linears = [n for n, m in model.named_modules() if isinstance(m, (nn.Linear, LoRALinear))]
    hf_of = {n: (map_name(n, ours_to_hf) if ours_to_hf is not None else n) for n in linears}
    if isinstance(targets, str):
        chosen = [n for n, hf in hf_of.items() if hf and re.fullmatch(targets, hf)]
    else:
        chosen = [n for n, hf in hf_of.items() if hf and any(hf == t or hf.endswith("." + t) for t in targets)]
    if not chosen:
        raise CheckpointError(f"{source}: target_modules {targets!r} match no linear layer of {type(model).__name__}")
    return chosen


def _load_weights(model: nn.Module, path: Path) -> None:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if not path.exists():
        raise CheckpointError(f"{path}: not found")
    try:
        raw = load_file(str(path))
    except (SafetensorError, OSError, RuntimeError) as e:
        raise CheckpointError(f"{path}: unreadable safetensors file (truncated or corrupt?): {e}") from e
    ours_to_hf = _module_map(model)
    expected, where = {}, {}
    for name, m in lora_layers(model).items():
        hf = _hf_name(name, ours_to_hf)
        for part, tensor in (("lora_A", m.lora_a), ("lora_B", m.lora_b)):
            key = f"{PREFIX}{hf}.{part}.weight"
            expected[key], where[key] = tuple(tensor.shape), tensor
    # PEFT writes keys without the adapter name, but some tools keep ".default": accept both.
    state = {k.replace(".lora_A.default.", ".lora_A.").replace(".lora_B.default.", ".lora_B."): v
             for k, v in raw.items()}
    check_state(expected, state, path)
    with torch.no_grad():
        for key, tensor in where.items():
            tensor.copy_(state[key].to(tensor.dtype))
