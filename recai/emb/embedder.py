"""Texts → vectors with an encoder (BERT family) or a decoder (Llama family, last-token pooling).

    emb = Embedder.from_pretrained("minilm-l6")          # registered name, HF folder, or .gguf
    vectors = emb.encode(["a quiet heist movie", "space opera"])   # (2, 384) float32, L2-normalised

Texts are tokenised once, sorted by length and run in batches padded only to the batch's longest
text, so a batch of short titles does not pay for one long plot summary. A sentence-transformers
folder's pooling, normalisation, max_seq_length and lower-casing are followed; a decoder gets the
RepLLaMA recipe: EOS appended, the last token's final hidden state, L2-normalised.
"""
from __future__ import annotations

import sys
import time

import torch

from recai.errors import CheckpointError, TokenizerError
from recai.nn.bert import POOLING, pool
from recai.nn.checkpoint import read_json


class Embedder:
    """A model, its tokenizer and a pooling rule.

    Args:
        model: `recai.nn.bert.Bert` or `recai.nn.llama.Llama` (anything with `hidden(ids, mask)`
            returning (B, T, dim) also works).
        tokenizer: `recai.text.Tokenizer` of that model.
        pooling: "mean", "cls", "last" or "max" over real tokens.
        normalize: L2-normalise the vectors (cosine similarity becomes a dot product).
        max_length: tokens per text, special tokens included; longer texts are cut at the end.
        lowercase: lower-case texts before tokenising (sentence-transformers' do_lower_case).
        add_eos: append EOS to every text (decoders: the token whose state is the embedding).
    """

    def __init__(self, model, tokenizer, *, pooling: str = "mean", normalize: bool = True, max_length: int = 512,
                 lowercase: bool = False, add_eos: bool | None = None, name: str = ""):
        if pooling not in POOLING:
            raise ValueError(f"unknown pooling {pooling!r}; choose from {POOLING}")
        if max_length < 2:
            raise ValueError(f"max_length must be >= 2, got {max_length}")
        self.model, self.tokenizer = model.eval(), tokenizer
        self.pooling, self.normalize, self.max_length = pooling, normalize, max_length
        self.lowercase, self.add_eos, self.name = lowercase, add_eos, name
        self.pad_id = tokenizer.pad_id if tokenizer.pad_id is not None else 0  # masked out anyway

    @classmethod
    def from_pretrained(cls, spec: str = "minilm-l6", dtype=torch.float32, device=None, **overrides) -> "Embedder":
        """Load a registered name (`minilm-l6`), an HF folder (BERT family or Llama family) or a `.gguf`.

        overrides: any of pooling, normalize, max_length, lowercase, add_eos, replacing what the
        folder says. Raises CheckpointError / FetchError naming the spec or file when it cannot load.
        """
        from recai.hub import resolve
        from recai.text import Tokenizer

        path = resolve(spec)
        config = path / "config.json" if path.is_dir() else None
        if config is not None and config.exists() and read_json(config).get("model_type", "bert") == "bert":
            from recai.nn.bert_weights import load_bert, sentence_settings

            model = load_bert(path, dtype=dtype, device=device)
            st = sentence_settings(path, model.config)
            settings = dict(pooling=st.pooling, normalize=st.normalize, max_length=st.max_seq_length,
                            lowercase=st.lowercase)
        else:
            from recai.nn.llama import Llama

            model = Llama.from_pretrained(path, dtype=dtype, device=device)
            settings = dict(pooling="last", normalize=True, max_length=min(model.cfg.max_seq_len, 512), add_eos=True)
        unknown = sorted(set(overrides) - {"pooling", "normalize", "max_length", "lowercase", "add_eos"})
        if unknown:
            raise TypeError(f"unknown Embedder settings {unknown}")
        try:
            tokenizer = Tokenizer.from_pretrained(path)
        except TokenizerError as e:  # a model without a usable tokenizer cannot embed text
            raise CheckpointError(f"{path}: no usable tokenizer for the embedder: {e}") from e
        return cls(model, tokenizer, **{**settings, **overrides}, name=str(spec))

    @property
    def dim(self) -> int:
        cfg = getattr(self.model, "config", None) or self.model.cfg
        return cfg.dim

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def tokenize(self, texts: list[str]) -> list[list[int]]:
        """Token ids per text, cut to max_length with the special tokens kept."""
        if self.lowercase:
            texts = [t.lower() for t in texts]
        return self.tokenizer.encode_batch(texts, max_length=self.max_length, add_eos=self.add_eos)

    @torch.inference_mode()
    def encode(self, texts, batch_size: int = 64, progress: bool = False, max_tokens: int = 4096) -> torch.Tensor:
        """(N, dim) float32 vectors on the model's device, in the order of `texts`.

        batch_size: most texts per forward pass; max_tokens: most padded tokens per pass (a batch
        of long texts is split further; at least one text always goes).
        Raises TypeError for a non-string text (naming its position), ValueError for batch_size < 1.
        """
        if isinstance(texts, str):
            raise TypeError("encode() takes a list of texts; wrap a single text in a list")
        texts = list(texts)
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        ids = self.tokenize(texts)
        out = torch.empty(len(texts), self.dim, dtype=torch.float32, device=self.device)
        order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))  # longest first: peak memory shows up early
        bar = _Bar(len(ids), progress)
        for rows in _batches(order, [len(i) for i in ids], batch_size, max_tokens):
            x, mask = self._pad([ids[i] for i in rows])
            hidden = self._hidden(x, mask)
            out[torch.tensor(rows, device=self.device)] = pool(hidden, mask, self.pooling, self.normalize).float()
            bar.advance(len(rows))
        bar.close()
        return out

    def _pad(self, batch: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Right-padded ids (B, T) and attention mask (B, T) on the model's device."""
        width = max(len(b) for b in batch)
        x = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros(len(batch), width, dtype=torch.long)
        for r, b in enumerate(batch):
            x[r, :len(b)] = torch.tensor(b)
            mask[r, :len(b)] = 1
        return x.to(self.device), mask.to(self.device)

    def _hidden(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if hasattr(self.model, "hidden"):
            return self.model.hidden(x, attention_mask=mask)
        return self.model(x, mask)

    def __repr__(self) -> str:
        return (f"Embedder({self.name or type(self.model).__name__}, dim={self.dim}, pooling={self.pooling!r}, "
                f"normalize={self.normalize}, max_length={self.max_length})")


def _batches(order: list[int], lengths: list[int], batch_size: int, max_tokens: int):
    """Consecutive runs of `order` (longest first) with at most batch_size texts and max_tokens padded tokens.

    Bounding the tokens keeps each activation small enough for the allocator to reuse: on CPU a
    fresh 100 MB tensor per layer costs page faults comparable to the matmul that fills it.
    """
    lo = 0
    while lo < len(order):
        width = max(lengths[order[lo]], 1)  # the longest text of the run sets its padded width
        n = max(1, min(batch_size, max_tokens // width))
        yield order[lo:lo + n]
        lo += n


class _Bar:
    """`embedded 1200/5000 texts, 840/s` on stderr, redrawn at most ten times a second."""

    def __init__(self, total: int, enabled: bool):
        self.total, self.done, self.enabled = total, 0, enabled
        self.t0 = self.shown = time.monotonic()

    def advance(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if self.enabled and (now - self.shown >= 0.1 or self.done == self.total):
            self.shown = now
            rate = self.done / max(now - self.t0, 1e-9)
            sys.stderr.write(f"\rembedded {self.done}/{self.total} texts, {rate:.0f}/s")
            sys.stderr.flush()

    def close(self) -> None:
        if self.enabled and self.done:
            sys.stderr.write("\n")
