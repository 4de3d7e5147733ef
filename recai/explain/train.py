"""Training an explainer through the shared SFT loop: LoRA on the decoder, the projector and the
slot embeddings in full (intention and hybrid modes), everything else frozen.

Prompts are encoded with their `<user>` / `<item>` markers turned into slot ids; each batch
carries the vectors of its slots (row-major, the order `SlotEmbedding` fills them in), and the
loss is SFT's (response tokens only).
"""
from __future__ import annotations

import re

import torch

from recai.explain.projector import SLOTS, SlotEmbedding
from recai.train.sft import SFTExample, SFTTask, build_example

_MARKER = re.compile("(" + "|".join(re.escape(s) for s in SLOTS) + ")")


def slot_encoder(tokenizer, vocab_size: int):
    """fn(text) -> ids with each slot marker as one id (vocab_size + its index in SLOTS)."""
    def encode(text: str) -> list[int]:
        ids: list[int] = []
        for piece in _MARKER.split(text):
            if piece in SLOTS:
                ids.append(vocab_size + SLOTS.index(piece))
            elif piece:
                ids += tokenizer.encode(piece, add_bos=False, add_eos=False)
        return ids
    return encode


def encode_prompt(tokenizer, vocab_size: int, messages: list[dict]) -> list[int]:
    """A generation prompt (chat template, assistant turn opened) with slot ids in place."""
    return slot_encoder(tokenizer, vocab_size)(tokenizer.apply_chat(messages, add_generation_prompt=True))


def stack_vectors(vectors, n: int, in_dim: int) -> torch.Tensor:
    """The first n of an example's slot vectors as one (n, in_dim) tensor."""
    if len(vectors) < n:
        raise ValueError(f"the prompt has {n} slot markers but only {len(vectors)} vectors")
    return torch.stack([v.float() for v in vectors[:n]]) if n else torch.zeros(0, in_dim)


class SlotSFTTask(SFTTask):
    """SFT batches plus the vectors of their slots; the forward runs with them fed to the slots."""

    def __init__(self, examples: list[SFTExample], vectors: list[torch.Tensor], pad_id: int,
                 slots: SlotEmbedding | None, device=None):
        super().__init__(examples, pad_id, device)
        self.vectors, self.slots = vectors, slots

    def collate(self, indices: list[int]) -> dict:
        batch = super().collate(indices)
        batch["vectors"] = torch.cat([self.vectors[i] for i in indices]).to(self.device) if self.slots else None
        return batch

    def loss_sum(self, model, batch: dict) -> torch.Tensor:
        if self.slots is None:
            return super().loss_sum(model, batch)
        with self.slots.feeding(batch["vectors"]):
            return super().loss_sum(model, batch)


def build_task(examples, tokenizer, vocab_size: int, slots: SlotEmbedding | None, in_dim: int,
               max_length: int = 768, device=None) -> SlotSFTTask:
    """The task over AlignExamples; a row whose response is cut away entirely is dropped."""
    encode = slot_encoder(tokenizer, vocab_size)
    rows, vectors = [], []
    for n, ex in enumerate(examples, 1):
        sft = build_example({"messages": ex.messages()}, tokenizer, max_length=max_length, where=f"example {n}",
                            encode=encode)
        if sft is None:
            continue
        n_slots = sum(i >= vocab_size for i in sft.ids)
        if n_slots and slots is None:
            raise ValueError(f"example {n} ({ex.task}) has slot markers but the model has no projector "
                             "(behaviour mode writes no vectors)")
        rows.append(sft)
        vectors.append(stack_vectors(ex.vectors, n_slots, in_dim))
    pad = tokenizer.pad_id if tokenizer.pad_id is not None else (tokenizer.eos_id or 0)
    return SlotSFTTask(rows, vectors, pad, slots, device)
