"""Training loops for the neural recommenders (SASRec, BPR-MF): plain functions, the optimizer step in sight.

Each epoch trains on every target once, then (when a `validate` callable is given) measures
validation NDCG@10; training stops after `patience` epochs without improvement and the best
epoch's weights are put back. Given a seed, a CPU run is deterministic.
"""
from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from recai.data import Interactions
from recai.errors import DataError
from recai.recsys.batches import bpr_triples, sequence_windows
from recai.recsys.common import resolve_device


@dataclass
class TrainConfig:
    epochs: int = 200  # upper bound; early stopping usually ends sooner
    batch_size: int = 16  # SASRec: sequence windows per step; BPR: (user, pos, neg) triples per step
    lr: float = 1e-3
    warmup_steps: int = 0  # linear warm-up, then constant (RecBole's schedule when 0)
    weight_decay: float = 0.0
    patience: int = 10  # epochs without a better validation NDCG@10 before stopping (RecBole's stopping_step)
    seed: int = 0
    device: str | None = None  # None: cuda when available
    progress: bool = False  # one line per epoch on stderr

    def __post_init__(self):
        for name in ("epochs", "batch_size", "patience"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")


@dataclass
class EpochLog:
    epoch: int  # 1-based
    loss: float  # mean training loss over the epoch's steps
    valid_ndcg: float | None
    seconds: float  # training only, validation excluded


@dataclass
class FitReport:
    epochs: list[EpochLog] = field(default_factory=list)
    best_epoch: int | None = None  # the epoch whose weights the model holds (None: no validation)
    best_ndcg: float | None = None
    train_seconds: float = 0.0  # wall time of the whole fit, validation included

    @property
    def seconds_per_epoch(self) -> float:
        """Mean training seconds per epoch, validation excluded."""
        return sum(e.seconds for e in self.epochs) / max(len(self.epochs), 1)


def lr_at(step: int, lr: float, warmup_steps: int) -> float:
    """Linear warm-up over `warmup_steps`, then constant `lr`."""
    if warmup_steps > 0 and step < warmup_steps:
        return lr * (step + 1) / warmup_steps
    return lr


def bpr_loss(pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
    """BPR: mean of -log σ(pos - neg) over the batch (Rendle et al. 2009), computed stably."""
    return -F.logsigmoid(pos - neg).mean()


class EarlyStopping:
    """Tracks the best validation score and keeps a copy of that epoch's weights."""

    def __init__(self, patience: int):
        self.patience = patience
        self.best: float = -math.inf
        self.best_epoch: int | None = None
        self.state: dict[str, torch.Tensor] | None = None

    def update(self, metric: float, epoch: int, module: nn.Module) -> bool:
        """Record an epoch's metric; True when training should stop."""
        if metric > self.best:
            self.best, self.best_epoch = metric, epoch
            self.state = {k: v.detach().clone() for k, v in module.state_dict().items()}
        return epoch - self.best_epoch >= self.patience

    def restore(self, module: nn.Module) -> None:
        if self.state is not None:
            module.load_state_dict(self.state)


def train_sasrec(net: nn.Module, train: Interactions, cfg: TrainConfig,
                 validate: Callable[[], float] | None = None, stride: int | None = None) -> FitReport:
    """Train a SASRecNet with full-softmax cross-entropy at every position of every window.

    Args:
        net: `recai.recsys.sasrec.SASRecNet`, moved to cfg.device here.
        train: the training histories; each user's items predict their successors.
        cfg: epochs, batch size (windows of max_len per step), lr, patience, seed, device, progress.
        validate: returns validation NDCG@10 for the current weights (no early stopping when None).
        stride: targets per window, see `recai.recsys.batches.sequence_windows` (None: max_len).
    Raises DataError when no user has 2 or more training items.
    """
    inputs, targets = sequence_windows(train.sequences(), net.config.max_len, stride)
    if len(inputs) == 0:
        raise DataError(f"SASRec needs users with at least 2 training items to learn a next item; "
                        f"the training data has {train.n_users} users, longest history "
                        f"{int(train.lengths().max(initial=0))}")
    device = resolve_device(cfg.device)
    net.to(device)
    torch.manual_seed(cfg.seed)  # dropout masks
    rng = np.random.default_rng(cfg.seed)  # batch order
    opt = _adam(net, cfg)
    stopper, report, step = EarlyStopping(cfg.patience), FitReport(), 0
    start = time.perf_counter()
    for epoch in range(1, cfg.epochs + 1):
        t0, total, n_steps = time.perf_counter(), 0.0, 0
        net.train()
        order = torch.from_numpy(rng.permutation(len(inputs)))
        for lo in range(0, len(order), cfg.batch_size):
            idx = order[lo:lo + cfg.batch_size]
            x, y = inputs[idx].to(device), targets[idx].to(device)
            width = int((x > 0).sum(1).max())  # right padding beyond the longest window is dead weight
            x, y = x[:, :width], y[:, :width]
            keep = y >= 0
            h = net(x)  # (B, T, D)
            # Only positions with a target reach the (M, n_items) logits: padding costs nothing there.
            loss = F.cross_entropy(net.logits(h[keep]), y[keep])
            total, n_steps, step = total + _step(opt, loss, step, cfg), n_steps + 1, step + 1
        if _end_epoch(report, stopper, net, epoch, total / n_steps, time.perf_counter() - t0, validate, cfg, "sasrec"):
            break
    stopper.restore(net)
    report.train_seconds = time.perf_counter() - start
    return report


def train_bpr(net: nn.Module, train: Interactions, cfg: TrainConfig,
              validate: Callable[[], float] | None = None) -> FitReport:
    """Train an MFNet with the BPR loss, one uniformly sampled unseen negative per training event.

    Args as `train_sasrec` (batch_size counts triples). Raises DataError for training data
    without events or with a user who has seen every item.
    """
    train.require_users(2, "BPR-MF training")
    device = resolve_device(cfg.device)
    net.to(device)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)  # shuffling and negatives
    opt = _adam(net, cfg)
    stopper, report, step = EarlyStopping(cfg.patience), FitReport(), 0
    start = time.perf_counter()
    for epoch in range(1, cfg.epochs + 1):
        t0, total, n_steps = time.perf_counter(), 0.0, 0
        net.train()
        users, pos, neg = (t.to(device) for t in bpr_triples(train, rng))  # fresh negatives every epoch
        for lo in range(0, len(users), cfg.batch_size):
            u, i, j = users[lo:lo + cfg.batch_size], pos[lo:lo + cfg.batch_size], neg[lo:lo + cfg.batch_size]
            loss = bpr_loss(net.pair_scores(u, i), net.pair_scores(u, j))
            total, n_steps, step = total + _step(opt, loss, step, cfg), n_steps + 1, step + 1
        if _end_epoch(report, stopper, net, epoch, total / n_steps, time.perf_counter() - t0, validate, cfg, "bpr-mf"):
            break
    stopper.restore(net)
    report.train_seconds = time.perf_counter() - start
    return report


def _step(opt: torch.optim.Optimizer, loss: torch.Tensor, step: int, cfg: TrainConfig) -> float:
    """One optimizer step at the scheduled learning rate; returns the loss value."""
    for group in opt.param_groups:
        group["lr"] = lr_at(step, cfg.lr, cfg.warmup_steps)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss.item()


def _adam(net: nn.Module, cfg: TrainConfig) -> torch.optim.Adam:
    # The fused kernel updates all parameters in one pass; with models this small the per-tensor
    # steps of the default implementation cost as much as the forward pass on a CPU.
    return torch.optim.Adam(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True)


def _end_epoch(report: FitReport, stopper: EarlyStopping, net: nn.Module, epoch: int, loss: float,
               seconds: float, validate, cfg: TrainConfig, name: str) -> bool:
    """Validate, log, and say whether to stop."""
    metric = None
    stop = False
    if validate is not None:
        net.eval()
        metric = float(validate())
        stop = stopper.update(metric, epoch, net)
        report.best_epoch, report.best_ndcg = stopper.best_epoch, stopper.best
    report.epochs.append(EpochLog(epoch, loss, metric, seconds))
    if cfg.progress:
        shown = "" if metric is None else f"  valid ndcg@10 {metric:.4f}{' *' if stopper.best_epoch == epoch else ''}"
        print(f"{name} epoch {epoch}/{cfg.epochs}  loss {loss:.4f}{shown}  {seconds:.1f}s", file=sys.stderr, flush=True)
    if stop and cfg.progress:
        print(f"{name}: no better validation NDCG@10 for {cfg.patience} epochs; keeping epoch "
              f"{stopper.best_epoch} ({stopper.best:.4f})", file=sys.stderr, flush=True)
    return stop
