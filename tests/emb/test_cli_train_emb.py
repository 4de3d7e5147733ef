"""`recai train emb` then `recai eval emb` on its folder: a small real run end to end."""
import json

from recai.cli import main


def test_train_then_eval_a_tiny_run(tmp_path, minilm_dir, capsys):
    out = tmp_path / "emb"
    assert main(["train", "emb", "--base", str(minilm_dir), "--per-task", "8", "--test-per-task", "4",
                 "--batch-size", "16", "--seed", "3", "--out", str(out), "--quiet"]) == 0
    table = capsys.readouterr().out
    assert table.startswith("| task | queries | hit@10 | ndcg@10 | coverage@10 |") and "| average | 40 |" in table
    settings = json.loads((out / "recai_emb.json").read_text())
    assert settings["seed"] == 3 and (out / "modules.json").is_file() and (out / "1_Pooling" / "config.json").is_file()
    report = json.loads((out / "report.json").read_text())
    assert main(["eval", "emb", "--model", str(out), "--test-per-task", "4", "--json", str(tmp_path / "r.json")]) == 0
    again = json.loads((tmp_path / "r.json").read_text())
    # the folder's seed was picked up, so the same held-out queries gave the same scores
    assert again["average"]["hit@10"] == report["average"]["hit@10"]
    assert main(["train", "emb", "--base", str(tmp_path / "nothing"), "--out", str(tmp_path / "x")]) == 2
