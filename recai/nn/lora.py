"""LoRA: low-rank adapters swapped into a model's linear layers in place.

    names = apply_lora(model, ["wq", "wv"], r=8, alpha=16)    # or PEFT's names: ["q_proj", "v_proj"]
    opt = torch.optim.AdamW(trainable_parameters(model), lr=1e-4)
    with adapters_disabled(model): ref_logits = model(tokens)  # the frozen base model, e.g. PPO's reference
    merge_lora(model)                                        # fold B·A into the weights for inference

`LoRALinear` keeps the base layer's `weight` and `bias` under their original names, so the model's
state dict keeps its checkpoint keys and only gains `lora_a` / `lora_b`. The adapter computes
y = x Wᵀ + b + (alpha / r) · B A dropout(x), with A (r, in) initialised like PEFT (Kaiming
uniform) and B (out, r) at zero, so a fresh adapter changes nothing. Saving and loading in PEFT's
on-disk layout lives in `recai.nn.lora_peft`.
"""
from __future__ import annotations

import contextlib
import math

import torch
import torch.nn.functional as F
from torch import nn

# PEFT / HF target names → ours, per model family (the module names HF's modelling code uses).
LLAMA_ALIASES = {"q_proj": "wq", "k_proj": "wk", "v_proj": "wv", "o_proj": "wo",
                 "gate_proj": "w1", "up_proj": "w3", "down_proj": "w2", "lm_head": "output"}
# Every projection of a Llama block, the usual full LoRA target set.
LLAMA_PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


class LoRALinear(nn.Module):
    """A linear layer with a rank-r adapter beside its frozen weight.

    Args: base (nn.Linear, whose weight and bias are reused, not copied), r >= 1, alpha, dropout on
    the adapter's input, rslora (scale alpha / sqrt(r) instead of alpha / r).
    """

    def __init__(self, base: nn.Linear, r: int, alpha: float, dropout: float = 0.0, rslora: bool = False):
        super().__init__()
        if not isinstance(r, int) or r < 1:
            raise ValueError(f"LoRA rank r must be a positive int, got {r!r}")
        self.in_features, self.out_features = base.in_features, base.out_features
        self.weight, self.bias = base.weight, base.bias
        w = base.weight
        self.lora_a = nn.Parameter(torch.empty(r, self.in_features, dtype=w.dtype, device=w.device))
        self.lora_b = nn.Parameter(torch.zeros(self.out_features, r, dtype=w.dtype, device=w.device))
        nn.init.kaiming_uniform_(self.lora_a, a=math.sqrt(5))  # PEFT's default for lora_A
        self.r, self.alpha, self.rslora = r, alpha, rslora
        self.scaling = alpha / math.sqrt(r) if rslora else alpha / r
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.merged = False
        self.disabled = False

    def delta(self, x: torch.Tensor) -> torch.Tensor:
        """The adapter's contribution (alpha / r) · B A x, without dropout."""
        return F.linear(F.linear(x, self.lora_a), self.lora_b) * self.scaling

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.linear(x, self.weight, self.bias)
        if self.merged:
            # The weight already holds B·A: taking the adapter out costs one low-rank product.
            return y - self.delta(x) if self.disabled else y
        if self.disabled:
            return y
        return y + F.linear(F.linear(self.dropout(x), self.lora_a), self.lora_b) * self.scaling

    @torch.no_grad()
    def merge(self) -> None:
        """W += (alpha / r) · B A, computed in fp32; forwards then skip the adapter's two matmuls."""
        if not self.merged:
            self.weight += _delta_weight(self)
            self.merged = True

    @torch.no_grad()
    def unmerge(self) -> None:
        """Undo `merge` (exact up to the rounding of the weight's dtype)."""
        if self.merged:
            self.weight -= _delta_weight(self)
            self.merged = False

    def extra_repr(self) -> str:
        return (f"in={self.in_features}, out={self.out_features}, r={self.r}, alpha={self.alpha}, "
                f"merged={self.merged}, disabled={self.disabled}")


def _matches(name: str, targets: list[str]) -> bool:
    return any(name == t or name.endswith("." + t) for t in targets)


def apply_lora(model: nn.Module, targets, r: int = 8, alpha: float = 16, dropout: float = 0.0,
               rslora: bool = False, aliases: dict[str, str] | None = None) -> list[str]:
    """Replace the nn.Linear layers named by `targets` with LoRALinear, freeze everything else.

    targets: module names or name suffixes ("wq", "attention.wq", "layers.0.attention.wq"), or
        the HF/PEFT names in `aliases` (default: the Llama ones, "q_proj" → "wq", ...).
    Returns the replaced module names. Raises ValueError when a target matches no linear layer
    (listing the names that exist) or would adapt a weight shared with another module (a tied
    output head: merging would also change the input embeddings).
    """
    if isinstance(targets, str):
        targets = [targets]
    aliases = LLAMA_ALIASES if aliases is None else aliases
    wanted = [aliases.get(t, t) for t in targets]
    linears = {n: m for n, m in model.named_modules() if isinstance(m, nn.Linear)}
    chosen = [n for n in linears if _matches(n, wanted)]
    unmatched = [t for t, w in zip(targets, wanted) if not any(_matches(n, [w]) for n in linears)]
    if unmatched:
        kinds = sorted({n.split(".")[-1] if not n.split(".")[-1].isdigit() else n for n in linears})
        raise ValueError(f"LoRA targets {unmatched} match no nn.Linear in {type(model).__name__}; "
                         f"its linear layers end in: {', '.join(kinds)}")
    shared = _shared_weights(model)
    for name in chosen:
        if id(linears[name].weight) in shared:
            raise ValueError(f"LoRA target {name!r} shares its weight with another module (a tied output head?); "
                             "adapting it would change that module too")
    for p in model.parameters():
        p.requires_grad_(False)
    for name in chosen:
        parent, attr = _parent(model, name)
        setattr(parent, attr, LoRALinear(linears[name], r, alpha, dropout, rslora))
    return chosen


def _shared_weights(model: nn.Module) -> set[int]:
    """ids of parameters reachable under more than one module name."""
    seen: dict[int, int] = {}
    for _, p in model.named_parameters(remove_duplicate=False):
        seen[id(p)] = seen.get(id(p), 0) + 1
    return {i for i, n in seen.items() if n > 1}


def _parent(model: nn.Module, name: str) -> tuple[nn.Module, str]:
    path, _, attr = name.rpartition(".")
    return (model.get_submodule(path) if path else model), attr


def lora_layers(model: nn.Module) -> dict[str, LoRALinear]:
    return {n: m for n, m in model.named_modules() if isinstance(m, LoRALinear)}


def trainable_parameters(model: nn.Module) -> list[nn.Parameter]:
    """Parameters with requires_grad, each once (what to hand the optimizer)."""
    return [p for p in {id(p): p for p in model.parameters()}.values() if p.requires_grad]


def mark_trainable(model: nn.Module, names) -> list[str]:
    """Also train the parameters whose names match `names` (suffixes, e.g. "norm.weight"); returns them."""
    names = [names] if isinstance(names, str) else list(names)
    hits = [n for n, p in model.named_parameters() if _matches(n, names)]
    if not hits:
        raise ValueError(f"{names} match no parameter of {type(model).__name__}")
    for n, p in model.named_parameters():
        if n in hits:
            p.requires_grad_(True)
    return hits


def merge_lora(model: nn.Module) -> None:
    for layer in lora_layers(model).values():
        layer.merge()


def unmerge_lora(model: nn.Module) -> None:
    for layer in lora_layers(model).values():
        layer.unmerge()


def merge_and_unload(model: nn.Module) -> list[str]:
    """Fold every adapter into its weight and put plain nn.Linear layers back (fastest inference;
    the adapters are gone afterwards). Returns the names of the layers replaced."""
    names = []
    for name, layer in lora_layers(model).items():
        base = nn.Linear(layer.in_features, layer.out_features, bias=layer.bias is not None, device="meta")
        base.weight = nn.Parameter(_adapted_weight(layer), requires_grad=False)
        base.bias = layer.bias
        parent, attr = _parent(model, name)
        setattr(parent, attr, base)
        names.append(name)
    return names


def merged_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The state dict with every adapter folded into its weight and no lora_a/lora_b: what a plain
    checkpoint of the adapted model holds. The model is left unchanged; `disabled` is ignored."""
    state = model.state_dict()
    for name, layer in lora_layers(model).items():
        del state[f"{name}.lora_a"], state[f"{name}.lora_b"]
        state[f"{name}.weight"] = _adapted_weight(layer)
    return state


def _delta_weight(layer: LoRALinear) -> torch.Tensor:
    """(alpha / r) · B A in the weight's dtype, computed in fp32."""
    return (layer.lora_b.float() @ layer.lora_a.float() * layer.scaling).to(layer.weight.dtype)


@torch.no_grad()
def _adapted_weight(layer: LoRALinear) -> torch.Tensor:
    return layer.weight.detach().clone() if layer.merged else layer.weight.detach() + _delta_weight(layer)


@contextlib.contextmanager
def adapters_disabled(model: nn.Module):
    """Run the base model: every adapter off inside the block, restored after (merged ones included)."""
    layers = list(lora_layers(model).values())
    before = [layer.disabled for layer in layers]
    for layer in layers:
        layer.disabled = True
    try:
        yield model
    finally:
        for layer, was in zip(layers, before):
            layer.disabled = was
