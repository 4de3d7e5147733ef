"""Learning-rate schedule: linear warmup, then cosine decay to a floor. A pure function of the step."""
from __future__ import annotations

import math


def lr_at(step: int, base_lr: float, warmup: int, total: int, min_ratio: float = 0.1) -> float:
    """lr for optimizer step `step` (0-based) of `total`.

    Warmup: base_lr · (step + 1) / warmup for the first `warmup` steps. Then
    lr = floor + (base_lr − floor) · ½ (1 + cos(π · progress)), floor = base_lr · min_ratio,
    progress running from 0 at the end of warmup to 1 at the last step.
    """
    if step < warmup:
        return base_lr * (step + 1) / warmup
    floor = base_lr * min_ratio
    span = max(total - warmup - 1, 1)
    progress = min((step - warmup) / span, 1.0)
    return floor + (base_lr - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))
