"""`load(dir)`: a saved recommender back, its class picked by config.json's "kind"."""
from __future__ import annotations

from pathlib import Path

from recai.errors import CheckpointError
from recai.recsys.checkpoint import CONFIG, read_checkpoint
from recai.recsys.itemcf import ItemCF
from recai.recsys.mf import BPRMF
from recai.recsys.popularity import Popularity
from recai.recsys.sasrec import SASRec

KINDS = {"popularity": Popularity, "itemcf": ItemCF, "mf": BPRMF, "sasrec": SASRec}


def load(directory: str | Path):
    """The Popularity, ItemCF, BPRMF or SASRec saved in `directory` by its `save`.

    Raises CheckpointError naming the file for a missing or unreadable file, an unknown kind
    (listing the known ones), a config the class refuses, or tensors that do not match it.
    """
    kind, config, tensors = read_checkpoint(directory)
    where = Path(directory) / CONFIG
    cls = KINDS.get(kind)
    if cls is None:
        raise CheckpointError(f"{where}: unknown recommender kind {kind!r}; known kinds: {sorted(KINDS)}")
    try:
        return cls.from_checkpoint(config, tensors, where=str(Path(directory)))
    except CheckpointError:
        raise
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{where}: config does not describe a valid {kind!r} model: {e!r}") from e


def load_or_train(directory: str | Path | None, train):
    """The recommender saved in `directory` when one is there, else `train()` (a fresh fit).

    Lets a command reuse a teacher from an earlier run without retraining it.
    """
    if directory is not None and (Path(directory) / "model.safetensors").is_file():
        return load(directory)
    return train()
