"""recai: recommender systems powered by language models, in one lean PyTorch library.

The main classes are re-exported here lazily, so `import recai` stays cheap: submodules (and the
runtime dependencies they need) load on first attribute access.
"""
from importlib import import_module

__version__ = "0.1.0"

_EXPORTS = {
    "Llama": "recai.nn.llama",
    "LlamaConfig": "recai.nn.llama",
    "KVCache": "recai.nn.llama",
    "Tokenizer": "recai.text",
    "generate": "recai.generation",
    "stream": "recai.generation",
    "GenerationConfig": "recai.generation",
    "fetch": "recai.hub",
    "Catalog": "recai.data",
    "Dataset": "recai.data",
    "Interactions": "recai.data",
    "load_dataset": "recai.data",
    "Popularity": "recai.recsys",
    "ItemCF": "recai.recsys",
    "BPRMF": "recai.recsys",
    "SASRec": "recai.recsys",
    "TitleMatcher": "recai.text.fuzzy",
}
# Exported under another name where the submodule's own is too generic at the top level.
_RENAMED = {"load_dataset": "load"}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name):
    if name in _EXPORTS:
        value = getattr(import_module(_EXPORTS[name]), _RENAMED.get(name, name))
        globals()[name] = value  # cache: later lookups skip __getattr__
        return value
    raise AttributeError(f"module 'recai' has no attribute {name!r}")
