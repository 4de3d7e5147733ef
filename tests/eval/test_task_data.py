"""Task files: built from a dataset, written and read back, malformed ones named."""
import json

import pytest

from recai.errors import DataError
from recai.eval.task_data import TASKS, TaskBuilder, read_items, write_items


def test_every_task_builds_and_round_trips(dataset, tmp_path):
    b = TaskBuilder(dataset, seed=1)
    for task in TASKS:
        items = b.items(task, 5)
        assert items and all(it.task == task for it in items)
        assert len({it.id for it in items}) == len(items)
        assert read_items(write_items(items, tmp_path / f"{task}.jsonl")) == items


def test_records_hold_what_their_task_needs(dataset):
    b = TaskBuilder(dataset, seed=1)
    (r,) = b.items("ranking", 1, n_candidates=8)
    assert len(r.candidates) == 8 and r.target in r.candidates and not set(r.history) & set(r.candidates)
    for task in ("cf_ranking_mc", "seq_ranking_mc"):
        for it in b.items(task, 5):
            assert len(it.candidates) == 10
            letter_of = {c[0]: c[3:] for c in it.candidates}
            assert letter_of[it.answer] == it.target
            if task == "cf_ranking_mc":
                assert it.target not in it.history
    (s,) = b.items("seq_ranking_mc", 1)
    assert s.history[-1] in s.prompt and s.target not in s.history
    assert b.items("retrieval", 3) == TaskBuilder(dataset, seed=1).items("retrieval", 3)  # seeded


def test_bad_files_are_named(tmp_path):
    p = tmp_path / "bad.jsonl"
    p.write_text('{"id": "a", "task": "ranking", "prompt": "x"}\nnot json\n')
    with pytest.raises(DataError, match="bad.jsonl:2: not valid JSON"):
        read_items(p)
    p.write_text(json.dumps({"id": "a", "task": "dance"}) + "\n")
    with pytest.raises(DataError, match="unknown task 'dance'"):
        read_items(p)
    p.write_text(json.dumps({"id": "a", "task": "ranking", "history": "Heat"}) + "\n")
    with pytest.raises(DataError, match="'history' must be a list"):
        read_items(p)
    with pytest.raises(ValueError, match="unknown task 'dance'"):
        TaskBuilder.__new__(TaskBuilder).items("dance", 1)
