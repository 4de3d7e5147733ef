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
import recai.agent.agent, recai.agent.cli, recai.gen.cli, recai.gen.evaluate, recai.train.ppo, recai.serve
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


PILLARS = ("agent", "emb", "gen", "knowledge", "explain")
# The item index is shared retrieval machinery (DESIGN.md's data flow: Embedder -> ItemIndex ->
# kernels.topk, used by the agent's soft filter), so the other pillars may use it.
SHARED = {"recai.emb", "recai.emb.embedder", "recai.emb.index", "recai.emb.tasks"}


def test_pillars_do_not_import_each_other():
    """DESIGN.md's layering: a pillar imports from below (and `recai.llm`, `recai.eval.metrics`, the
    fuzzy matcher), never from another pillar."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "recai"
    crossings = []
    for pillar in PILLARS:
        for file in sorted((root / pillar).rglob("*.py")) if (root / pillar).is_dir() else []:
            for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                    [node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
                for name in names:
                    parts = name.split(".")
                    if (parts[0] == "recai" and len(parts) > 1 and parts[1] in PILLARS and parts[1] != pillar
                            and name not in SHARED):
                        crossings.append(f"{file.relative_to(root.parent)} imports {name}")
    assert not crossings, crossings
