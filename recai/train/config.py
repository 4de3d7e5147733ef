"""Hyper-parameters of a training run: one flat dataclass, no layered config files."""
from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass
class TrainConfig:
    lr: float = 2e-4
    epochs: float = 1.0  # passes over the data; ignored when max_steps is set
    max_steps: int | None = None  # optimizer steps in all
    batch_size: int = 8  # examples per device per micro-batch
    grad_accum: int = 1  # micro-batches per optimizer step
    warmup_steps: int = 0
    min_lr_ratio: float = 0.1  # cosine decays to lr * min_lr_ratio
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    max_grad_norm: float | None = 1.0  # None: no clipping
    bf16: bool = False  # autocast matmuls to bfloat16 (weights and optimizer stay fp32)
    activation_checkpointing: bool = False
    seed: int = 0
    log_every: int = 10  # steps between progress lines when stderr is not a terminal
    eval_every: int | None = None  # steps between evaluations (and one at the end)
    save_every: int | None = None  # steps between checkpoints (and one at the end, when out_dir is set)
    keep_checkpoints: int = 2  # newest checkpoints kept in out_dir

    def __post_init__(self):
        for name in ("batch_size", "grad_accum"):
            if getattr(self, name) < 1:
                raise ValueError(f"TrainConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.lr <= 0:
            raise ValueError(f"TrainConfig.lr must be > 0, got {self.lr}")
        if self.max_steps is None and self.epochs <= 0:
            raise ValueError(f"TrainConfig.epochs must be > 0, got {self.epochs}")
        self.betas = tuple(self.betas)

    def to_dict(self) -> dict:
        return asdict(self)
