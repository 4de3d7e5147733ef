"""`import recai` (and the engine's modules) pull in only the standard library and the six runtime deps."""
import json
import subprocess
import sys

ALLOWED = {"recai", "torch", "numpy", "tokenizers", "safetensors", "sentencepiece", "requests",
           # requests' own dependencies come with it
           "urllib3", "charset_normalizer", "idna", "certifi"}

PROBE = """
import json, sys
import torch
before = set(sys.modules)
import recai
from recai import Llama, Tokenizer, generate
exported = [getattr(recai, name) for name in recai.__all__]  # every re-export resolves
import recai.hub, recai.cli, recai.nn.llama_weights
import recai.data, recai.data.loaders, recai.data.download, recai.eval.metrics, recai.text.fuzzy
from recai.recsys import SASRec, BPRMF, ItemCF, Popularity, load, evaluate_model
new = sorted({m.split('.')[0] for m in set(sys.modules) - before})
print(json.dumps(new))
"""


def test_import_pulls_only_runtime_dependencies():
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True).stdout
    new = set(json.loads(out.strip().splitlines()[-1]))
    foreign = {m for m in new if m not in ALLOWED and m not in sys.stdlib_module_names and not m.startswith("_")}
    assert not foreign, f"import recai pulled in {sorted(foreign)}"


def test_plain_import_is_lazy():
    probe = "import sys, recai; print('recai.nn.llama' in sys.modules, 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
