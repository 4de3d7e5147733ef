"""`recai demo` end to end on a small dataset folder: the first run trains and indexes, the second reuses."""
import json
import subprocess
import sys

import numpy as np
import pytest


@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory):
    from recai.data import Dataset, load
    from recai.data.loaders.recai_layout import save_recai

    data = load("ml-latest-small")
    counts = np.bincount(data.interactions.item, minlength=len(data.catalog))
    kept = np.sort(np.argsort(-counts, kind="stable")[:300])
    small = Dataset("ml-small-300", data.catalog.subset(kept.tolist()), data.interactions.reindex_items(kept), "test")
    root = tmp_path_factory.mktemp("ds") / "ml-small-300"
    save_recai(small, root)
    return root


def demo(args, home):
    env = {"RECAI_HOME": str(home), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "recai", "demo", *args], capture_output=True, text=True, env=env,
                          timeout=600)


def test_demo_without_an_llm_runs_and_caches(small_dataset, minilm_dir, tmp_path):
    args = ["--llm", "none", "--dataset", str(small_dataset), "--embedder", str(minilm_dir), "--ranker-epochs", "1",
            "--json", "--say", "I loved Toy Story, something similar?", "--say", "What year was Fargo released?",
            "--say", ""]
    first = demo(args, tmp_path)
    assert first.returncode == 0, first.stderr
    assert "training SASRec" in first.stderr and "embedding 300 items" in first.stderr
    turns = [json.loads(line) for line in first.stdout.splitlines()]
    assert [t["turn"] for t in turns] == [1, 2, 3]
    assert [s["tool"] for s in turns[0]["plan"]] == ["soft_filter", "rank"] and len(turns[0]["titles"]) == 5
    assert "1996" in turns[1]["reply"]
    assert turns[2]["plan"] == [] and turns[2]["reply"]
    second = demo(args, tmp_path)
    assert second.returncode == 0, second.stderr
    assert "training SASRec" not in second.stderr and "embedding" not in second.stderr
    assert [json.loads(line)["titles"] for line in second.stdout.splitlines()] == [t["titles"] for t in turns]


def test_demo_help_and_bad_options(tmp_path):
    out = subprocess.run([sys.executable, "-m", "recai", "demo", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "scripted conversation" in out.stdout
    bad = demo(["--llm", "none", "--planner", "llm", "--dataset", "no/such/dataset"], tmp_path)
    assert bad.returncode == 2 and "error" in bad.stderr


def test_chat_streams_replies_and_answers_commands(small_dataset, minilm_dir, tmp_path):
    env = {"RECAI_HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"}
    args = ["--llm", "none", "--dataset", str(small_dataset), "--embedder", str(minilm_dir), "--ranker-epochs", "1"]
    out = subprocess.run([sys.executable, "-m", "recai", "chat", *args], input="I loved Toy Story\n/profile\n\n",
                         capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr
    assert "agent> Here are my picks:\n1. " in out.stdout and "Toy Story (1995)" in out.stdout.split("agent>")[-1]
    assert "plan: soft_filter(like: Toy Story" in out.stderr
    tuned = subprocess.run([sys.executable, "-m", "recai", "chat", *args, "--planner", "tuned"], input="",
                           capture_output=True, text=True, env=env, timeout=600)
    assert tuned.returncode == 2 and "--planner tuned needs a local --llm" in tuned.stderr
