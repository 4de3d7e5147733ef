"""RecLM-emb fine-tuning: a BERT-family embedder trained on the ten matching tasks of a catalog.

    split = build_tasks(ds.catalog, ds.interactions)
    embedder = finetune_embedder("minilm-l6", ds.catalog, split, TrainConfig(lr=5e-5, epochs=1), "runs/emb")

The result is a sentence-transformers folder (config.json, model.safetensors, tokenizer files,
modules.json, 1_Pooling, sentence_bert_config.json) that `Embedder.from_pretrained` and
sentence-transformers both load.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from recai.emb.embedder import Embedder
from recai.emb.tasks import TaskSplit, catalog_texts
from recai.errors import CheckpointError
from recai.train import TrainConfig
from recai.train.contrastive import train_contrastive

# Files of a sentence-transformers folder carried over unchanged from the base model.
CARRIED = ("modules.json", "sentence_bert_config.json", "config_sentence_transformers.json", "tokenizer.json",
           "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")


def training_triples(split: TaskSplit, texts: list[str], negatives: int = 1) -> list[tuple]:
    """(query, positive item text, [hard negative item texts]) for every training query."""
    return [(q.text, texts[q.target], [texts[n] for n in q.negatives[:negatives]]) for q in split.train]


def finetune_embedder(base: str, catalog, split: TaskSplit, cfg: TrainConfig, out_dir, *, negatives: int = 1,
                      max_length: int = 64, temperature: float = 0.05, lora_rank: int = 0, evaluate=None,
                      resume=None, progress: bool = True) -> Embedder:
    """Fine-tune the embedder `base` (registered name or sentence-transformers / HF BERT folder).

    lora_rank > 0 trains LoRA adapters on the attention and feed-forward layers instead of every
    weight (they are folded in when saving). Checkpoints go to out_dir/checkpoints; the model to
    out_dir. Returns the fine-tuned Embedder. Raises CheckpointError for a base that is not a
    BERT-family folder.
    """
    start = Embedder.from_pretrained(base)
    if not hasattr(start.model, "embeddings"):
        raise CheckpointError(f"{base}: RecLM-emb fine-tuning takes a BERT-family encoder; for decoders use "
                              "recai.train.contrastive.train_contrastive with pooling='last'")
    model = start.model
    if lora_rank:
        from recai.nn.lora import apply_lora

        apply_lora(model, ["qkv", "out", "up", "down"], r=lora_rank, alpha=2 * lora_rank, aliases={})
    texts = catalog_texts(catalog)
    triples = training_triples(split, texts, negatives)
    out_dir = Path(out_dir)
    train_contrastive(model, start.tokenizer, triples, cfg, pooling=start.pooling, normalize=start.normalize,
                      max_length=max_length, temperature=temperature, evaluate=evaluate,
                      out_dir=out_dir / "checkpoints", resume=resume, progress=progress)
    save_sentence_transformer(start, out_dir, base_folder=_folder(base))
    return Embedder.from_pretrained(str(out_dir))


def _folder(spec: str) -> Path:
    from recai.hub import resolve

    return resolve(spec)


def save_sentence_transformer(embedder: Embedder, out_dir, base_folder: Path | None = None) -> Path:
    """The embedder's weights in HF BERT layout plus the sentence-transformers files of its base folder."""
    from recai.nn.bert_weights import save_bert

    out_dir = Path(out_dir)
    save_bert(embedder.model, out_dir)
    if base_folder is not None and base_folder.is_dir():
        for name in CARRIED:
            if (base_folder / name).is_file():
                shutil.copy2(base_folder / name, out_dir / name)
        if (base_folder / "1_Pooling").is_dir():
            shutil.copytree(base_folder / "1_Pooling", out_dir / "1_Pooling", dirs_exist_ok=True)
    return out_dir
