"""Supervised fine-tuning: causal-LM loss on response tokens only.

    rows = load_sft_jsonl("train.jsonl")   # {"messages": [...]} or {"prompt": ..., "response": ...} per line
    result = train_sft(model, tokenizer, rows, TrainConfig(lr=2e-4, epochs=3), out_dir="runs/sft")

With a chat template every assistant message is trained on (its text and the end-of-turn token),
everything else is context. Without one (or with template=False), a row is BOS + prompt as context
and response + EOS as target. Examples are length-bucketed and right-padded; under causal
attention a real token never sees the padding after it, so no attention mask is needed and no
two examples ever share a sequence.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from recai.errors import DataError
from recai.train.config import TrainConfig
from recai.train.data import read_jsonl
from recai.train.loop import TrainResult, fit

IGNORE = -100  # label of a context or padding position
SFT_FIELDS = (("messages",), ("prompt", "response"))


@dataclass
class SFTExample:
    ids: list[int]
    labels: list[int]  # ids[i] where the model is trained to produce token i, IGNORE elsewhere


def load_sft_jsonl(path: str | Path) -> list[dict]:
    """Rows of an SFT JSONL file; DataError naming the line of a row without messages or prompt+response."""
    return read_jsonl(path, required=SFT_FIELDS)


def _messages(row: dict, where: str) -> list[dict]:
    if "messages" in row:
        messages = row["messages"]
        if not isinstance(messages, list) or not messages:
            raise DataError(f"{where}: 'messages' must be a non-empty list of {{role, content}}")
        return messages
    if not isinstance(row.get("prompt"), str) or not isinstance(row.get("response"), str):
        raise DataError(f"{where}: 'prompt' and 'response' must be strings")
    system = [{"role": "system", "content": row["system"]}] if row.get("system") else []
    return system + [{"role": "user", "content": row["prompt"]}, {"role": "assistant", "content": row["response"]}]


def segments(row: dict, tokenizer, template: bool = True, where: str = "row") -> list[tuple[str, bool]]:
    """The row's text as (piece, trained) pairs in order."""
    messages = _messages(row, where)
    if template and tokenizer.chat_template is not None:
        out, done = [], ""
        for i, m in enumerate(messages):
            if m.get("role") != "assistant":
                continue
            prompt = tokenizer.apply_chat(messages[:i], add_generation_prompt=True)
            full = tokenizer.apply_chat(messages[:i + 1], add_generation_prompt=False)
            if not (full.startswith(prompt) and prompt.startswith(done)):
                raise DataError(f"{where}: the chat template does not render this conversation as growing prefixes; "
                                "SFT cannot tell prompt from response (use prompt/response rows with template=False)")
            out += [(prompt[len(done):], False), (full[len(prompt):], True)]
            done = full
        if not out:
            raise DataError(f"{where}: no assistant message to train on")
        return out
    if "messages" in row:
        raise DataError(f"{where}: 'messages' rows need a tokenizer with a chat template; give prompt/response rows")
    return [(row["prompt"], False), (row["response"], True)]


def build_example(row: dict, tokenizer, template: bool = True, max_length: int = 1024,
                  where: str = "row", encode=None) -> SFTExample | None:
    """Token ids and labels of one row, cut to max_length; None when no trained token survives the cut.

    encode: fn(text) -> ids for each piece (default: the tokenizer's, without BOS/EOS); RecExplainer
    passes one that turns its vector placeholders into slot ids.
    """
    encode = encode or (lambda text: tokenizer.encode(text, add_bos=False, add_eos=False))
    pieces = segments(row, tokenizer, template, where)
    raw = not (template and tokenizer.chat_template is not None)
    ids, labels = [], []
    if raw and tokenizer.add_bos and tokenizer.bos_id is not None:
        ids.append(tokenizer.bos_id)
        labels.append(IGNORE)
    for text, trained in pieces:
        part = encode(text)
        ids += part
        labels += part if trained else [IGNORE] * len(part)
    if raw:
        if tokenizer.eos_id is None:
            raise DataError(f"{tokenizer.source}: no EOS token to end responses with")
        ids.append(tokenizer.eos_id)
        labels.append(tokenizer.eos_id)
    ids, labels = ids[:max_length], labels[:max_length]
    if all(label == IGNORE for label in labels[1:]):
        return None
    return SFTExample(ids, labels)


class SFTTask:
    """Batches of right-padded examples; loss = Σ token cross-entropy over trained positions."""

    unit = "tok"

    def __init__(self, examples: list[SFTExample], pad_id: int, device=None):
        self.examples, self.pad_id, self.device = examples, pad_id, device
        self.lengths = [len(e.ids) for e in examples]

    def collate(self, indices: list[int]) -> dict:
        rows = [self.examples[i] for i in indices]
        width = max(len(r.ids) for r in rows)
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        labels = torch.full((len(rows), width), IGNORE, dtype=torch.long)
        for r, ex in enumerate(rows):
            ids[r, :len(ex.ids)] = torch.tensor(ex.ids)
            labels[r, :len(ex.labels)] = torch.tensor(ex.labels)
        return {"ids": ids.to(self.device), "labels": labels.to(self.device),
                "tokens": sum(len(r.ids) for r in rows)}

    def count(self, batch: dict) -> int:
        return int((batch["labels"][:, 1:] != IGNORE).sum())

    def amount(self, batch: dict) -> int:
        return batch["tokens"]

    def loss_sum(self, model, batch: dict) -> torch.Tensor:
        # Right padding needs no attention mask under causal attention. The output head (a
        # vocab-sized matmul per position) runs only where a target follows: prompts cost nothing there.
        labels = batch["labels"]
        has_target = torch.zeros_like(labels, dtype=torch.bool)
        has_target[:, :-1] = labels[:, 1:] != IGNORE
        logits = model(batch["ids"], output_mask=has_target)  # (n, V)
        return F.cross_entropy(logits.float(), labels[:, 1:][has_target[:, :-1]], reduction="sum")


def token_loss_sum(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Σ −log p(label_t+1 | ≤ t) over positions whose next label is not IGNORE, in fp32, from full
    (B, T, V) logits (the reference the training loss is checked against)."""
    return F.cross_entropy(logits[:, :-1].flatten(0, 1).float(), labels[:, 1:].flatten(), ignore_index=IGNORE,
                           reduction="sum")


def prepare(rows: list[dict], tokenizer, template: bool = True, max_length: int = 1024,
            source: str = "rows", encode=None) -> tuple[list[SFTExample], int]:
    """Examples of every row, and how many rows were dropped because truncation left nothing to train."""
    if not rows:
        raise DataError(f"{source}: no SFT examples (empty dataset)")
    out, dropped = [], 0
    for n, row in enumerate(rows, 1):
        ex = build_example(row, tokenizer, template, max_length, where=f"{source}:{n}", encode=encode)
        if ex is None:
            dropped += 1
        else:
            out.append(ex)
    if not out:
        raise DataError(f"{source}: every example was truncated to no response tokens (max_length={max_length})")
    return out, dropped


def train_sft(model, tokenizer, rows: list[dict], cfg: TrainConfig, *, eval_rows: list[dict] | None = None,
              template: bool = True, max_length: int = 1024, out_dir=None, resume=None,
              progress: bool = True) -> TrainResult:
    """Fine-tune `model` (full, or its LoRA adapters when apply_lora was called) on SFT rows.

    eval_rows: held-out rows; their mean token loss is logged as eval_loss every cfg.eval_every
    steps. Raises DataError for empty data or malformed rows (naming the row).
    """
    device = next(model.parameters()).device
    pad = tokenizer.pad_id if tokenizer.pad_id is not None else (tokenizer.eos_id or 0)
    examples, _ = prepare(rows, tokenizer, template, max_length)
    task = SFTTask(examples, pad, device)
    evaluate = None
    if eval_rows:
        held_out = SFTTask(prepare(eval_rows, tokenizer, template, max_length, "eval_rows")[0], pad, device)
        evaluate = lambda m: {"eval_loss": mean_loss(m, held_out, cfg.batch_size)}  # noqa: E731
    return fit(model, task, cfg, evaluate=evaluate, out_dir=out_dir, resume=resume, progress=progress)


def mean_loss(model, task: SFTTask, batch_size: int = 8) -> float:
    """Mean token loss of a task's examples (no gradient)."""
    total, count = 0.0, 0
    with torch.no_grad():
        for lo in range(0, len(task.examples), batch_size):
            batch = task.collate(list(range(lo, min(lo + batch_size, len(task.examples)))))
            total += float(task.loss_sum(model, batch))
            count += task.count(batch)
    return total / max(count, 1)
