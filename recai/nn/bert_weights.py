"""Checkpoints for `recai.nn.bert`: HF BERT directories, and the sentence-transformers settings beside them.

HF's separate query/key/value projections are fused into our one `qkv` (rows query, key, value);
`save_bert` splits them again. Heads a sentence encoder never uses (the pooler, MLM/NSP heads) and
the `position_ids` buffer are skipped; any other unknown tensor is an error.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from recai.errors import CheckpointError
from recai.nn.bert import POOLING, Bert, BertConfig
from recai.nn.checkpoint import (atomic_write, check_state, invert, map_name, read_json, read_safetensors,
                                 safetensors_files)
from recai.nn.lora import merged_state_dict

# HF BertModel name → ours; q/k/v land on temporary names and are fused by `_fuse_qkv`.
HF_TO_OURS = {
    "embeddings.word_embeddings.weight": "embeddings.word.weight",
    "embeddings.position_embeddings.weight": "embeddings.position.weight",
    "embeddings.token_type_embeddings.weight": "embeddings.token_type.weight",
    "embeddings.LayerNorm.weight": "embeddings.norm.weight",
    "embeddings.LayerNorm.bias": "embeddings.norm.bias",
    "encoder.layer.{}.attention.self.query.weight": "layers.{}.attention.q.weight",
    "encoder.layer.{}.attention.self.query.bias": "layers.{}.attention.q.bias",
    "encoder.layer.{}.attention.self.key.weight": "layers.{}.attention.k.weight",
    "encoder.layer.{}.attention.self.key.bias": "layers.{}.attention.k.bias",
    "encoder.layer.{}.attention.self.value.weight": "layers.{}.attention.v.weight",
    "encoder.layer.{}.attention.self.value.bias": "layers.{}.attention.v.bias",
    "encoder.layer.{}.attention.output.dense.weight": "layers.{}.attention.out.weight",
    "encoder.layer.{}.attention.output.dense.bias": "layers.{}.attention.out.bias",
    "encoder.layer.{}.attention.output.LayerNorm.weight": "layers.{}.attention.norm.weight",
    "encoder.layer.{}.attention.output.LayerNorm.bias": "layers.{}.attention.norm.bias",
    "encoder.layer.{}.intermediate.dense.weight": "layers.{}.ffn.up.weight",
    "encoder.layer.{}.intermediate.dense.bias": "layers.{}.ffn.up.bias",
    "encoder.layer.{}.output.dense.weight": "layers.{}.ffn.down.weight",
    "encoder.layer.{}.output.dense.bias": "layers.{}.ffn.down.bias",
    "encoder.layer.{}.output.LayerNorm.weight": "layers.{}.ffn.norm.weight",
    "encoder.layer.{}.output.LayerNorm.bias": "layers.{}.ffn.norm.bias",
}
SKIPPED_PREFIXES = ("pooler.", "cls.", "embeddings.position_ids")
PREFIXES = ("bert.", "model.")  # BertForMaskedLM / BertForPreTraining and some exports nest the encoder


@dataclass(frozen=True)
class SentenceSettings:
    """How a sentence-transformers folder turns hidden states into a sentence vector."""

    pooling: str = "mean"
    normalize: bool = False
    max_seq_length: int = 512
    lowercase: bool = False  # sentence_bert_config's do_lower_case, applied before tokenising


def config_from_hf(hf: dict, source: Path) -> BertConfig:
    model_type = hf.get("model_type", "bert")
    if model_type in ("roberta", "xlm-roberta"):
        # RoBERTa offsets positions by padding_idx + 1; reading it as BERT would be silently wrong.
        raise CheckpointError(f"{source}: model_type {model_type!r}: RoBERTa-style position ids are not supported yet")
    if model_type != "bert":
        raise CheckpointError(f"{source}: model_type {model_type!r} is not a BERT-family encoder")
    if hf.get("position_embedding_type", "absolute") != "absolute":
        raise CheckpointError(f"{source}: position_embedding_type {hf['position_embedding_type']!r} is not "
                              "supported (only 'absolute')")
    try:
        return BertConfig(
            vocab_size=hf["vocab_size"], dim=hf["hidden_size"], n_layers=hf["num_hidden_layers"],
            n_heads=hf["num_attention_heads"], inner_dim=hf["intermediate_size"],
            max_positions=hf.get("max_position_embeddings", 512), type_vocab_size=hf.get("type_vocab_size", 2),
            layer_norm_eps=hf.get("layer_norm_eps", 1e-12), activation=hf.get("hidden_act", "gelu"),
            pad_token_id=hf.get("pad_token_id", 0))
    except KeyError as e:
        raise CheckpointError(f"{source}: missing field {e}") from e
    except ValueError as e:
        raise CheckpointError(f"{source}: {e}") from e


def _ours(name: str) -> str | None:
    """Our name for an HF tensor; "" for one that is skipped; None when unknown."""
    for prefix in PREFIXES:
        if name.startswith(prefix):
            name = name[len(prefix):]
            break
    if name.startswith(SKIPPED_PREFIXES):
        return ""
    name = name.replace("LayerNorm.gamma", "LayerNorm.weight").replace("LayerNorm.beta", "LayerNorm.bias")  # TF era
    return map_name(name, HF_TO_OURS)


def _fuse_qkv(state: dict[str, torch.Tensor], n_layers: int) -> None:
    """layers.i.attention.{q,k,v}.{weight,bias} → layers.i.attention.qkv.{weight,bias}, in place."""
    for i in range(n_layers):
        for leaf in ("weight", "bias"):
            parts = [f"layers.{i}.attention.{p}.{leaf}" for p in "qkv"]
            if all(p in state for p in parts):
                state[f"layers.{i}.attention.qkv.{leaf}"] = torch.cat([state.pop(p) for p in parts])


def load_bert(path: str | Path, dtype=torch.float32, device=None) -> Bert:
    """An HF BERT-family directory (config.json + safetensors, sharded or not) as an eval-mode `Bert`.

    Raises CheckpointError naming the file for a missing/invalid config, an unsupported variant, or
    tensors that are missing, unexpected or mis-shaped.
    """
    directory = Path(path)
    if directory.is_file():
        directory = directory.parent
    if not directory.is_dir():
        raise CheckpointError(f"{directory}: no such directory (expected an HF model folder)")
    cfg_path = directory / "config.json"
    cfg = config_from_hf(read_json(cfg_path), cfg_path)
    state = {}
    for name, t in read_safetensors(safetensors_files(directory)).items():
        ours = _ours(name)
        if ours != "":
            state[ours or f"<unknown tensor> {name}"] = t
    _fuse_qkv(state, cfg.n_layers)
    with torch.device("meta"):
        model = Bert(cfg)
    check_state({k: tuple(v.shape) for k, v in model.state_dict().items()}, state, directory)
    model.load_state_dict({k: v.to(dtype=dtype, device=device) for k, v in state.items()}, strict=True, assign=True)
    return model.eval()


def sentence_settings(path: str | Path, config: BertConfig | None = None) -> SentenceSettings:
    """Pooling, normalisation, length limit and lower-casing from a sentence-transformers folder.

    Reads modules.json (a Normalize module → normalize), the Pooling module's config.json and
    sentence_bert_config.json. A plain HF folder gets mean pooling, no normalisation and the
    model's position count. Raises CheckpointError naming the file for an invalid one or a pooling
    mode we do not implement.
    """
    directory = Path(path)
    limit = config.max_positions if config else 512
    modules_path = directory / "modules.json"
    if not modules_path.exists():
        return SentenceSettings(max_seq_length=limit)
    try:
        modules = json.loads(modules_path.read_text(encoding="utf-8"))
        types = [(m.get("type", ""), m.get("path", "")) for m in modules]
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError, TypeError) as e:
        raise CheckpointError(f"{modules_path}: not a sentence-transformers module list: {e}") from e
    normalize = any(t.endswith(".Normalize") for t, _ in types)
    pooling = "mean"
    for kind, sub in types:
        if kind.endswith(".Pooling"):
            pooling = _pooling_mode(read_json(directory / sub / "config.json"), directory / sub / "config.json")
    lowercase = False
    st_path = directory / "sentence_bert_config.json"
    if st_path.exists():
        st = read_json(st_path)
        limit = min(int(st.get("max_seq_length") or limit), limit)
        lowercase = bool(st.get("do_lower_case", False))
    return SentenceSettings(pooling, normalize, limit, lowercase)


def _pooling_mode(cfg: dict, source: Path) -> str:
    modes = {"mean": cfg.get("pooling_mode_mean_tokens"), "cls": cfg.get("pooling_mode_cls_token"),
             "max": cfg.get("pooling_mode_max_tokens"), "last": cfg.get("pooling_mode_lasttoken")}
    chosen = [m for m, on in modes.items() if on]
    unsupported = [k for k in ("pooling_mode_mean_sqrt_len_tokens", "pooling_mode_weightedmean_tokens")
                   if cfg.get(k)]
    if unsupported or len(chosen) != 1:
        raise CheckpointError(f"{source}: pooling {unsupported or chosen or 'none'} is not supported; "
                              f"exactly one of {POOLING} is")
    return chosen[0]


def save_bert(model: Bert, directory: str | Path) -> None:
    """HF BertModel layout: config.json + model.safetensors (q/k/v split again)."""
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    cfg = model.config
    to_hf = invert(HF_TO_OURS)
    state = {}
    for name, t in merged_state_dict(model).items():  # LoRA adapters, if any, folded in
        t = t.detach().contiguous().cpu()
        if ".attention.qkv." in name:
            for part, chunk in zip("qkv", t.chunk(3)):
                ours = name.replace(".qkv.", f".{part}.")
                state[map_name(ours, to_hf)] = chunk.contiguous()
        else:
            state[map_name(name, to_hf)] = t
    hf = {"architectures": ["BertModel"], "model_type": "bert", "vocab_size": cfg.vocab_size,
          "hidden_size": cfg.dim, "num_hidden_layers": cfg.n_layers, "num_attention_heads": cfg.n_heads,
          "intermediate_size": cfg.inner_dim, "max_position_embeddings": cfg.max_positions,
          "type_vocab_size": cfg.type_vocab_size, "layer_norm_eps": cfg.layer_norm_eps,
          "hidden_act": cfg.activation, "pad_token_id": cfg.pad_token_id, "position_embedding_type": "absolute"}
    atomic_write(directory / "config.json", json.dumps(hf, indent=2).encode())
    tmp = directory / ".model.safetensors.tmp"
    save_file(state, str(tmp), metadata={"format": "pt"})
    tmp.replace(directory / "model.safetensors")
