"""tools/convert.py output is an HF directory that transformers loads and runs identically."""
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from recai.generation import generate
from recai.nn.llama import Llama

ROOT = Path(__file__).resolve().parents[1]
transformers = pytest.importorskip("transformers")


def test_llama2c_to_hf_greedy_matches_transformers(tmp_path, stories_dir):
    out = tmp_path / "hf"
    res = subprocess.run([sys.executable, str(ROOT / "tools" / "convert.py"), str(stories_dir / "stories260K.bin"),
                          str(out)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    ref = transformers.AutoModelForCausalLM.from_pretrained(out).eval()
    ref_tok = transformers.AutoTokenizer.from_pretrained(out)
    ids = ref_tok("Once upon a time", return_tensors="pt").input_ids
    with torch.no_grad():
        theirs = ref.generate(ids, max_new_tokens=40, do_sample=False)[0, ids.shape[1]:].tolist()
    ours = generate(Llama.from_pretrained(stories_dir / "stories260K.bin"), ids[0].tolist(), max_new_tokens=40,
                    stop_ids=[])[0].tokens
    assert ours[: len(theirs)] == theirs


def test_convert_reports_bad_source(tmp_path):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + b"\x00" * 10)
    res = subprocess.run([sys.executable, str(ROOT / "tools" / "convert.py"), str(bad), str(tmp_path / "o")],
                         capture_output=True, text=True)
    assert res.returncode == 2 and "bad.gguf" in res.stderr
