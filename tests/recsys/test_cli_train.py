"""`recai train`: parsing, the stdout table, saved model and report, default output folder, bad rows."""
import json

import pytest

import recai.recsys as rs
from recai.errors import DataError
from recai.cli import build_parser as parser
from recai.recsys.cli_train import cmd_train


@pytest.fixture
def inter_file(tmp_path, make_cyclic):
    """The cyclic histories as a RecBole atomic .inter file."""
    data = make_cyclic(n_users=40)
    lines = ["user_id:token\titem_id:token\ttimestamp:float"]
    lines += [f"u{u}\ti{i}\t{t}" for u, i, t in zip(data.user, data.item, data.time)]
    path = tmp_path / "cyc.inter"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_train_sasrec_prints_a_table_and_saves(inter_file, tmp_path, capsys):
    out = tmp_path / "run"
    args = parser().parse_args(["train", "sasrec", "--dataset", str(inter_file), "--epochs", "2", "--dim", "16",
                                "--batch-size", "8", "--lr", "0.005", "--device", "cpu", "--out", str(out)])
    assert cmd_train(args) == 0
    captured = capsys.readouterr()
    head, row = captured.out.strip().splitlines()
    assert head.split()[:4] == ["model", "dataset", "split", "test"] and "NDCG@10" in head
    assert row.split()[:4] == ["sasrec", "cyc", "leave-one-out", "40"]
    assert "sasrec epoch 1/2" in captured.err and "valid ndcg@10" in captured.err  # progress on stderr only
    report = json.loads((out / "report.json").read_text())
    assert f"{report['test']['ndcg@10']:.4f}" == row.split()[4]
    assert report["best_epoch"] in (1, 2) and len(report["epochs"]) == 2
    model = rs.load(out)
    assert isinstance(model, rs.SASRec) and model.config.dim == 16


def test_train_pop_defaults_to_recai_home(inter_file, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RECAI_HOME", str(tmp_path / "home"))
    args = parser().parse_args(["train", "pop", "--dataset", str(inter_file), "--quiet"])
    assert cmd_train(args) == 0
    saved = list((tmp_path / "home" / "runs").glob("cyc-pop-*"))
    assert len(saved) == 1 and isinstance(rs.load(saved[0]), rs.Popularity)
    assert "model saved to" in capsys.readouterr().err


def test_bad_rows_stop_unless_skipped(inter_file, capsys):
    inter_file.write_text(inter_file.read_text() + "u1\ti3\tnot-a-time\n")
    args = parser().parse_args(["train", "itemcf", "--dataset", str(inter_file), "--quiet"])
    with pytest.raises(DataError, match="timestamp"):
        cmd_train(args)
    args = parser().parse_args(["train", "itemcf", "--dataset", str(inter_file), "--quiet", "--skip-bad",
                                "--out", str(inter_file.parent / "icf")])
    assert cmd_train(args) == 0
    assert "skipped rows" in capsys.readouterr().err


def test_help_lists_models_and_examples():
    p = parser()
    with pytest.raises(SystemExit):
        p.parse_args(["train", "deepfm"])
    train = p._subparsers._group_actions[0].choices["train"]
    text = train.format_help()
    assert "recai train sasrec --dataset ml-100k" in text and "sasrec, mf, itemcf, pop" in text
    sasrec = train._subparsers._group_actions[0].choices["sasrec"].format_help()
    assert "--patience" in sasrec and "recai train sasrec --dataset ml-100k" in sasrec


def test_recai_command_has_train():
    from recai.cli import build_parser

    args = build_parser().parse_args(["train", "pop", "--dataset", "ml-100k", "--quiet"])
    assert (args.command, args.model, args.dataset, args.func) == ("train", "pop", "ml-100k", cmd_train)
