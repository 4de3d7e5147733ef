"""DDP: two gloo processes with batch B reach the parameters of one process with batch 2B."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).with_name("ddp_worker.py")


def run(args, tmp_path, name, torchrun=False):
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", "OMP_NUM_THREADS": "1"}
    out = tmp_path / f"{name}.pt"
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"] if torchrun \
        else [sys.executable]
    res = subprocess.run(launcher + [str(WORKER), str(out)] + [str(a) for a in args], env=env, capture_output=True,
                         text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    return torch.load(out)


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed is not available")
def test_sft_on_two_gloo_ranks_equals_one_process_with_the_doubled_batch(tmp_path):
    # 11 examples in global batches of 4: the last batch of each epoch (3) leaves one micro-batch short.
    two = run(["sft", 2, 1], tmp_path, "two", torchrun=True)
    one = run(["sft", 4, 1], tmp_path, "one")
    accum = run(["sft", 2, 2], tmp_path, "accum")  # one process, 2 micro-batches of 2: the same steps again
    for name, p in one["state"].items():
        assert (two["state"][name] - p).abs().max() <= 1e-5, name
        assert (accum["state"][name] - p).abs().max() <= 1e-5, name
    assert max(abs(a - b) for a, b in zip(two["losses"], one["losses"])) <= 1e-5
    assert one["losses"][0] > one["losses"][-1]  # it did train


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed is not available")
def test_cross_device_negatives_equal_one_process_in_batch_negatives(tmp_path):
    """With every rank's candidates gathered (gradients kept), 2 x B is the in-batch loss of 2B.

    The bar is looser than SFT's: ranks pad their own micro-batches, the temperature (0.05) scales
    the resulting rounding of the logits by 20, and Adam divides near-zero gradients, whose
    relative rounding is large, by their own size. Measured: losses within 1.2e-5, weights within 1.3e-5.
    """
    two = run(["contrastive", 2, 1], tmp_path, "two", torchrun=True)
    one = run(["contrastive", 4, 1], tmp_path, "one")
    for name, p in one["state"].items():
        assert (two["state"][name] - p).abs().max() <= 1e-4, name
    assert max(abs(a - b) for a, b in zip(two["losses"], one["losses"])) <= 5e-5
    alone = run(["contrastive-local", 2, 1], tmp_path, "alone", torchrun=True)  # no gathering: another loss
    assert abs(alone["losses"][0] - one["losses"][0]) > 1e-2
