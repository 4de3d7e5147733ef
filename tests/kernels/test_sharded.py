"""Sharded top-k under torchrun with 2 gloo processes equals the single-process kernel."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from kernels import topk

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed is not available")
def test_two_gloo_ranks_under_torchrun_equal_one_process(tmp_path):
    out = tmp_path / "result.pt"
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(Path(__file__).with_name("sharded_worker.py")), str(out)]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    got = torch.load(out)
    scores, ids = topk(got["queries"], got["items"], 40, exclude=got["exclude"])
    assert torch.equal(got["ids"], ids) and torch.equal(got["scores"], scores)
