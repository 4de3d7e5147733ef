"""Reading a recommender's vectors: a 2-layer MLP projector and slot tokens in the decoder's input.

RecExplainer's intention alignment feeds the target model's own user and item vectors to the
language model, the way a vision-language model feeds image features: a prompt carries slot
tokens (`<user>`, `<item>`), and at each slot the input embedding is the projected vector plus a
learned embedding of the slot kind. Slots are ids just past the tokenizer's vocabulary, so the
tokenizer is untouched and the output head never predicts them.

    slots = SlotEmbedding.install(model, Projector(in_dim=64, dim=model.cfg.dim))
    with slots.feeding(vectors):          # (number of slots in the batch, in_dim), row-major order
        logits = model(ids)

`SlotEmbedding` wraps the model's token embedding in place (like LoRA wraps a Linear) and keeps the
original `weight` reachable, so a tied output head and everything that reads
`model.tok_embeddings.weight` still work.
"""
from __future__ import annotations

import contextlib
import json
from pathlib import Path

import torch
from torch import nn

from recai.errors import CheckpointError

SLOTS = ("<user>", "<item>")
PROJECTOR_FILE = "projector.safetensors"
CONFIG_FILE = "projector.json"


class Projector(nn.Module):
    """in_dim -> hidden -> dim, GELU between: the target model's vector space to the decoder's."""

    def __init__(self, in_dim: int, dim: int, hidden: int | None = None):
        super().__init__()
        self.in_dim, self.dim, self.hidden = in_dim, dim, hidden or 2 * dim
        self.net = nn.Sequential(nn.Linear(in_dim, self.hidden), nn.GELU(), nn.Linear(self.hidden, dim))

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        if v.shape[-1] != self.in_dim:
            raise ValueError(f"the projector reads {self.in_dim}-dimensional vectors, got {v.shape[-1]} "
                             "(was the target model trained with another dimension?)")
        return self.net(v)


class SlotEmbedding(nn.Module):
    """The token embedding with slot ids (vocab_size + k for SLOTS[k]) filled from projected vectors."""

    def __init__(self, base: nn.Embedding, projector: Projector):
        super().__init__()
        self.base, self.projector = base, projector
        self.vocab_size = base.num_embeddings
        # New token embeddings for the slot kinds, added to the projected vector (start at 0:
        # training begins from the projector alone).
        self.slot_embeddings = nn.Parameter(torch.zeros(len(SLOTS), base.embedding_dim, dtype=base.weight.dtype))
        self._vectors: torch.Tensor | None = None

    @property
    def weight(self) -> torch.Tensor:
        return self.base.weight

    def slot_id(self, name: str) -> int:
        return self.vocab_size + SLOTS.index(name)

    @classmethod
    def install(cls, model, projector: Projector) -> "SlotEmbedding":
        if isinstance(model.tok_embeddings, SlotEmbedding):
            raise ValueError("the model already has slot embeddings")
        if projector.dim != model.cfg.dim:
            raise ValueError(f"the projector writes {projector.dim}-dimensional embeddings, the model needs "
                             f"{model.cfg.dim}")
        slots = cls(model.tok_embeddings, projector.to(model.tok_embeddings.weight.device))
        model.tok_embeddings = slots
        return slots

    @contextlib.contextmanager
    def feeding(self, vectors: torch.Tensor | None):
        """Vectors for the slots of the next forward passes, (n_slots, in_dim) in row-major order."""
        previous, self._vectors = self._vectors, vectors
        try:
            yield self
        finally:
            self._vectors = previous

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        is_slot = tokens >= self.vocab_size
        if not bool(is_slot.any()):
            return self.base(tokens)
        x = self.base(torch.where(is_slot, 0, tokens))  # (B, T, C)
        n = int(is_slot.sum())
        if self._vectors is None or self._vectors.shape[0] != n:
            got = "none" if self._vectors is None else str(self._vectors.shape[0])
            raise ValueError(f"the input has {n} slot tokens but {got} vectors were fed for them")
        kinds = tokens[is_slot] - self.vocab_size
        if int(kinds.max()) >= len(SLOTS):
            raise ValueError(f"token id {int(tokens.max())} is beyond the vocabulary and the {len(SLOTS)} slots")
        filled = self.projector(self._vectors.to(x.dtype).to(x.device)) + self.slot_embeddings[kinds]
        return x.masked_scatter(is_slot[..., None], filled.to(x.dtype))

    def trainable(self) -> list[nn.Parameter]:
        return list(self.projector.parameters()) + [self.slot_embeddings]


def save_slots(slots: SlotEmbedding, directory: str | Path, meta: dict | None = None) -> Path:
    """projector.safetensors (projector + slot embeddings, exact dtypes) and projector.json."""
    from safetensors.torch import save_file

    from recai.data.atomic import atomic_path

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {f"projector.{k}": v.detach().contiguous().cpu() for k, v in slots.projector.state_dict().items()}
    tensors["slot_embeddings"] = slots.slot_embeddings.detach().contiguous().cpu()
    with atomic_path(directory / PROJECTOR_FILE) as tmp:
        save_file(tensors, str(tmp))
    config = {"in_dim": slots.projector.in_dim, "dim": slots.projector.dim, "hidden": slots.projector.hidden,
              "slots": list(SLOTS), **(meta or {})}
    with atomic_path(directory / CONFIG_FILE) as tmp:
        Path(tmp).write_text(json.dumps(config, indent=1))
    return directory


def load_slots(model, directory: str | Path) -> tuple[SlotEmbedding, dict]:
    """Install the saved projector and slot embeddings on `model`; (slots, the saved config)."""
    from safetensors.torch import load_file

    directory = Path(directory)
    cfg_path, weights = directory / CONFIG_FILE, directory / PROJECTOR_FILE
    if not cfg_path.is_file() or not weights.is_file():
        raise CheckpointError(f"{directory}: no {CONFIG_FILE} + {PROJECTOR_FILE} (not an intention or hybrid "
                              "explainer)")
    config = json.loads(cfg_path.read_text())
    if config.get("slots") != list(SLOTS):
        raise CheckpointError(f"{cfg_path}: slots {config.get('slots')} differ from this version's {list(SLOTS)}")
    projector = Projector(config["in_dim"], config["dim"], config["hidden"])
    tensors = load_file(str(weights))
    try:
        projector.load_state_dict({k[len("projector."):]: v for k, v in tensors.items() if k.startswith("projector.")})
    except RuntimeError as e:
        raise CheckpointError(f"{weights}: {e}") from None
    slots = SlotEmbedding.install(model, projector)
    with torch.no_grad():
        slots.projector.to(dtype=tensors["projector.net.0.weight"].dtype)
        slots.slot_embeddings.copy_(tensors["slot_embeddings"].to(slots.slot_embeddings.dtype))
    return slots, config
