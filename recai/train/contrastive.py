"""Contrastive training of text encoders: InfoNCE over normalised embeddings.

    triples = [("a funny heist", "Ocean's Eleven (2001). Genres: Comedy, Crime", ["Saw (2004)"]), ...]
    train_contrastive(encoder_model, tokenizer, triples, TrainConfig(lr=5e-5, epochs=1))

Each query is scored against every positive and every hard negative of the batch (in-batch
negatives) and, with cross_device=True under torchrun, against those of every rank too. Works for
BERT-family encoders (mean / CLS pooling) and Llama-family decoders (last-token pooling, EOS
appended), with full fine-tuning or with LoRA adapters applied beforehand.
"""
from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from recai.errors import DataError
from recai.nn.bert import pool
from recai.train.config import TrainConfig
from recai.train.distributed import all_gather_with_grad, world
from recai.train.loop import TrainResult, fit


def info_nce_sum(q: torch.Tensor, candidates: torch.Tensor, targets: torch.Tensor, temperature: float,
                 valid: torch.Tensor | None = None) -> torch.Tensor:
    """Σ_i −log softmax(q_i · c / τ)[t_i]: InfoNCE summed over queries.

    q: (B, d) and candidates: (C, d), both L2-normalised; targets: (B,) index of each query's
    positive among the candidates; valid: optional (C,) bool, False for padding rows.
    """
    logits = q @ candidates.T / temperature  # (B, C)
    if valid is not None:
        logits = logits.masked_fill(~valid[None, :], float("-inf"))
    return F.cross_entropy(logits.float(), targets, reduction="sum")


class PooledEncoder(nn.Module):
    """model + pooling as one module, so DDP sees one forward per micro-batch.

    forward(groups): groups is a list of (ids (n, T), mask (n, T), rows (n,)) — texts of similar
    length padded together — and returns the (Σn, dim) embeddings with group rows put back at
    `rows`. Short queries and long item texts then never share one padded width.
    """

    def __init__(self, model: nn.Module, pooling: str = "mean", normalize: bool = True):
        super().__init__()
        self.model, self.pooling, self.normalize = model, pooling, normalize

    @property
    def activation_checkpointing(self) -> bool:
        return getattr(self.model, "activation_checkpointing", False)

    @activation_checkpointing.setter
    def activation_checkpointing(self, on: bool) -> None:
        if hasattr(self.model, "activation_checkpointing"):
            self.model.activation_checkpointing = on

    def embed(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        hidden = self.model.hidden(ids, attention_mask=mask) if hasattr(self.model, "hidden") else self.model(ids, mask)
        return pool(hidden, mask, self.pooling, self.normalize)

    def forward(self, groups) -> torch.Tensor:
        parts = [(self.embed(ids, mask), rows) for ids, mask, rows in groups]
        n = sum(len(rows) for _, rows in parts)
        out = parts[0][0].new_empty(n, parts[0][0].shape[1])
        for emb, rows in parts:
            out = out.index_copy(0, rows, emb)  # out of place: autograd keeps every group's gradient
        return out


def _pad(seqs: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros(len(seqs), width, dtype=torch.long)
    for r, s in enumerate(seqs):
        ids[r, :len(s)] = torch.tensor(s)
        mask[r, :len(s)] = 1
    return ids, mask


def length_groups(seqs: list[list[int]], pad_id: int, group: int = 32, device=None) -> list[tuple]:
    """Texts sorted by length and padded in groups of `group`: [(ids, mask, rows), ...]."""
    order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
    out = []
    for lo in range(0, len(order), group):
        rows = order[lo:lo + group]
        ids, mask = _pad([seqs[i] for i in rows], pad_id)
        out.append((ids.to(device), mask.to(device), torch.tensor(rows, device=device)))
    return out


class ContrastiveTask:
    """(query, positive, negatives) examples, tokenised once; one forward per micro-batch."""

    unit = "ex"

    def __init__(self, triples, tokenizer, max_length: int = 128, temperature: float = 0.05,
                 cross_device: bool = False, add_eos: bool | None = None, device=None):
        if not triples:
            raise DataError("no contrastive examples (empty dataset)")
        for n, t in enumerate(triples):
            if len(t) < 2 or not all(isinstance(x, str) for x in t[:2]) or (len(t) > 2 and not isinstance(t[2], list)):
                raise DataError(f"contrastive example {n}: expected (query, positive[, [negatives]]), got {t!r:.120}")
        texts = [x for t in triples for x in (t[0], t[1], *(t[2] if len(t) > 2 else []))]
        ids = iter(tokenizer.encode_batch(texts, max_length=max_length, add_eos=add_eos))
        self.examples = [(next(ids), next(ids), [next(ids) for _ in (t[2] if len(t) > 2 else [])]) for t in triples]
        self.lengths = [len(q) + len(p) for q, p, _ in self.examples]
        self.pad_id = tokenizer.pad_id if tokenizer.pad_id is not None else 0
        self.temperature, self.cross_device, self.device = temperature, cross_device, device

    def collate(self, indices: list[int]) -> dict:
        rows = [self.examples[i] for i in indices]
        seqs = [q for q, _, _ in rows] + [p for _, p, _ in rows] + [n for _, _, negs in rows for n in negs]
        return {"groups": length_groups(seqs, self.pad_id, device=self.device), "B": len(rows),
                "tokens": sum(len(x) for x in seqs)}

    def count(self, batch: dict) -> int:
        return batch["B"]

    def amount(self, batch: dict) -> int:
        return batch["B"]

    def loss_sum(self, encoder, batch: dict) -> torch.Tensor:
        emb = encoder(batch["groups"])  # (B + B + M, d): queries, positives, negatives
        B = batch["B"]
        q, cand = emb[:B], emb[B:]  # candidates: the batch's positives, then its hard negatives
        targets = torch.arange(B, device=emb.device)
        if self.cross_device and world().size > 1:
            # Positives of every rank, then negatives of every rank: the candidate order one process
            # with the whole global batch would have.
            pos, pos_valid, offset = _gather_rows(cand[:B])
            neg, neg_valid, _ = _gather_rows(cand[B:])
            return info_nce_sum(q, torch.cat([pos, neg]), targets + offset, self.temperature,
                                torch.cat([pos_valid, neg_valid]))
        return info_nce_sum(q, cand, targets, self.temperature)


def _gather_rows(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Every rank's rows of x (padded to one count, gradients kept), a validity mask, and where this
    rank's own rows start."""
    me = world()
    sizes = [torch.zeros(1, dtype=torch.long, device=x.device) for _ in range(me.size)]
    dist.all_gather(sizes, torch.tensor([x.shape[0]], device=x.device))
    sizes = [int(s) for s in sizes]
    most = max(sizes)
    padded = torch.cat([x, x.new_zeros(most - x.shape[0], x.shape[1])])
    everything = all_gather_with_grad(padded)  # (world · most, d)
    valid = torch.cat([torch.arange(most, device=x.device) < s for s in sizes])
    return everything, valid, me.rank * most


def train_contrastive(model: nn.Module, tokenizer, triples, cfg: TrainConfig, *, pooling: str = "mean",
                      normalize: bool = True, max_length: int = 128, temperature: float = 0.05,
                      cross_device: bool = False, add_eos: bool | None = None, evaluate=None, out_dir=None,
                      resume=None, progress: bool = True) -> TrainResult:
    """Fine-tune an encoder (all of it, or its LoRA adapters) on (query, positive[, negatives]) triples.

    pooling/normalize/max_length: as the Embedder that will use the model (e.g. mean, True, 256
    for MiniLM; last, True with add_eos=True for decoders). evaluate: fn(model) -> metrics.
    Raises DataError for an empty dataset or malformed triples (naming the example).
    """
    device = next(model.parameters()).device
    task = ContrastiveTask(triples, tokenizer, max_length, temperature, cross_device, add_eos, device)
    encoder = PooledEncoder(model, pooling, normalize)
    wrapped = None if evaluate is None else (lambda enc: evaluate(enc.model))
    return fit(encoder, task, cfg, evaluate=wrapped, out_dir=out_dir, resume=resume, progress=progress)
