"""The one training loop: plan → micro-batches → loss → backward → clip → step, with the step in sight.

A task says how to batch and score its examples (SFT, contrastive, ...):

    class Task:
        lengths: list[int]                        # per example, for bucketing
        unit: str                                 # "tok" or "ex", for the progress line
        def collate(self, indices) -> batch       # on the model's device
        def count(self, batch) -> int             # terms in the loss (label tokens, queries)
        def loss_sum(self, model, batch) -> Tensor  # summed, not averaged, over those terms
        def amount(self, batch) -> int            # tokens or examples, for throughput

The loss of a step is Σ loss_sum / Σ count over every micro-batch on every rank, so gradient
accumulation and any number of DDP processes give the gradient of one big batch.
"""
from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from recai.train.checkpoint import load_checkpoint, save_checkpoint
from recai.train.config import TrainConfig
from recai.train.data import epoch_plan, split_batch
from recai.train.distributed import sum_across, world
from recai.train.optim import adamw
from recai.train.progress import Progress
from recai.train.schedule import lr_at


@dataclass
class TrainResult:
    steps: int  # optimizer steps done in all (including those before a resume)
    losses: list[float] = field(default_factory=list)  # one per step run here
    evals: list[dict] = field(default_factory=list)  # {"step": ..., **metrics}
    checkpoint: Path | None = None  # the last one written


def total_steps(n_examples: int, cfg: TrainConfig, world_size: int) -> tuple[int, int]:
    """(optimizer steps in all, steps per epoch) for a dataset of n examples."""
    per_step = cfg.batch_size * cfg.grad_accum * world_size
    per_epoch = math.ceil(n_examples / per_step)
    return (cfg.max_steps if cfg.max_steps is not None else math.ceil(cfg.epochs * per_epoch)), per_epoch


def fit(model: nn.Module, task, cfg: TrainConfig, *, evaluate=None, out_dir=None, resume=None,
        progress: bool = True, bucket: bool = True) -> TrainResult:
    """Train `model` on `task` (see the module docstring) with AdamW and warmup + cosine.

    evaluate: optional fn(model) -> dict of metrics, run every cfg.eval_every steps and at the end.
    out_dir: where checkpoints go (every cfg.save_every steps and at the end; rank 0 writes).
    resume: a checkpoint folder or out_dir to continue from; the run then goes on exactly as if
        it had never stopped (same data order, same randomness, same optimizer state).
    Under torchrun the model is wrapped in DistributedDataParallel and each rank takes its share
    of every global batch.
    """
    me = world()
    if not task.lengths:
        raise ValueError("no training examples: the dataset is empty")
    steps, per_epoch = total_steps(len(task.lengths), cfg, me.size)
    model.train()
    if hasattr(model, "activation_checkpointing"):
        model.activation_checkpointing = cfg.activation_checkpointing
    optimizer = adamw(model, cfg.lr, cfg.weight_decay, cfg.betas, cfg.eps)
    params = [p for g in optimizer.param_groups for p in g["params"]]
    start = 0
    if resume is not None:
        start = int(load_checkpoint(resume, model, optimizer)["step"])
    runner = model
    if me.size > 1:
        runner = nn.parallel.DistributedDataParallel(model)
    device = params[0].device
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.bf16)
    bar = Progress(steps, start, task.unit, cfg.log_every, enabled=progress and me.main)
    result = TrainResult(steps=start)
    pieces = cfg.grad_accum * me.size
    plan, plan_epoch = None, None
    for step in range(start, steps):
        epoch, position = divmod(step, per_epoch)
        if plan_epoch != epoch:
            plan, plan_epoch = epoch_plan(task.lengths, cfg.batch_size * pieces, epoch, cfg.seed, bucket), epoch
        lr = lr_at(step, cfg.lr, cfg.warmup_steps, steps, cfg.min_lr_ratio)
        for group in optimizer.param_groups:
            group["lr"] = lr
        torch.manual_seed(cfg.seed * 1_000_003 + step * 1009 + me.rank)  # dropout: a function of the step
        parts = split_batch(plan[position], pieces)
        mine = [parts[m * me.size + me.rank] for m in range(cfg.grad_accum)]
        # A short last batch can leave a rank nothing: it then runs one example with weight 0, so
        # that DDP still sees a forward and joins the gradient all-reduce.
        batches = [(task.collate(idx), 1.0) if idx else (task.collate(plan[position][:1]), 0.0) for idx in mine]
        total = sum_across(sum(task.count(b) for b, w in batches if w), device)
        if total == 0:
            raise ValueError(f"step {step}: its batch has no loss terms (e.g. every response was truncated away)")
        loss_sum, amount = 0.0, 0
        for m, (batch, weight) in enumerate(batches):
            last = m == len(batches) - 1
            sync = runner.no_sync() if me.size > 1 and not last else contextlib.nullcontext()
            with sync:
                with autocast:
                    loss = task.loss_sum(runner, batch) * weight
                loss_sum += float(loss.detach())
                amount += task.amount(batch) if weight else 0
                # Scaled so that DDP's mean over ranks gives d(Σ loss / Σ count) exactly.
                (loss * (me.size / total)).backward()
        if cfg.max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        step_loss = sum_across(loss_sum, device) / total
        result.losses.append(step_loss)
        result.steps = step + 1
        bar.step(step, step_loss, lr, int(sum_across(amount, device)))
        done = step + 1
        if evaluate is not None and cfg.eval_every and done % cfg.eval_every == 0 and done != steps:
            result.evals.append(_evaluate(model, evaluate, done, bar))
        if out_dir is not None and cfg.save_every and done % cfg.save_every == 0 and done != steps and me.main:
            result.checkpoint = save_checkpoint(out_dir, done, model, optimizer, cfg.to_dict(), cfg.keep_checkpoints)
    if evaluate is not None and result.steps > start:
        result.evals.append(_evaluate(model, evaluate, result.steps, bar))
    if out_dir is not None and me.main and result.steps > start:
        result.checkpoint = save_checkpoint(out_dir, result.steps, model, optimizer, cfg.to_dict(),
                                            cfg.keep_checkpoints)
    bar.close()
    model.eval()
    return result


def _evaluate(model: nn.Module, evaluate, step: int, bar: Progress) -> dict:
    model.eval()
    with torch.no_grad():
        metrics = dict(evaluate(model))
    model.train()
    bar.note(f"eval at step {step}: " + "  ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
                                                 for k, v in metrics.items()))
    return {"step": step, **metrics}
