"""`recai embed`: build from a text/JSONL file, search with titles, and the errors that say what to do."""
import pytest

from recai.cli import main
from recai.emb import ItemIndex


def test_build_and_search_a_jsonl_index(tmp_path, minilm_dir, capsys):
    items = tmp_path / "items.jsonl"
    items.write_text('{"sku": "a1", "text": "a red running shoe"}\n'
                     '{"sku": "b2", "text": "chocolate chip cookies"}\n\n'
                     '{"sku": "c3", "text": "trail sneakers for hiking"}\n')
    out = tmp_path / "items.safetensors"
    assert main(["embed", "--model", str(minilm_dir), "--input", str(items), "--id-field", "sku",
                 "--out", str(out), "--quiet"]) == 0
    index = ItemIndex.load(out)
    assert index.ids == ["a1", "b2", "c3"] and index.dim == 384
    capsys.readouterr()
    assert main(["embed", "--model", str(minilm_dir), "--index", str(out), "--query", "sports footwear", "-k", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "# sports footwear" and {lines[1].split()[2], lines[2].split()[2]} == {"a1", "c3"}


def test_text_file_ids_are_line_numbers(tmp_path, minilm_dir):
    texts = tmp_path / "t.txt"
    texts.write_text("first\nsecond\n")
    assert main(["embed", "--model", str(minilm_dir), "--input", str(texts), "--out", str(tmp_path / "t.st")]) == 0
    assert ItemIndex.load(tmp_path / "t.st").ids == ["1", "2"]


def test_errors(tmp_path, minilm_dir, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok"}\n{"name": "no text"}\n')
    assert main(["embed", "--model", str(minilm_dir), "--input", str(bad), "--out", str(tmp_path / "x")]) == 2
    assert "bad.jsonl:2: no field 'text'" in capsys.readouterr().err
    assert main(["embed", "--input", str(bad)]) == 2
    assert "give --out and exactly one of --dataset or --input" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["embed", "--dtype", "float64"])
