"""`recai data info` and `recai data convert` through the real command line."""
import json
import subprocess
import sys


def recai(*args):
    return subprocess.run([sys.executable, "-m", "recai", *args], capture_output=True, text=True)


def test_info_default_text_and_json():
    res = recai("data", "info")
    assert res.returncode == 0, res.stderr
    assert "items 9,125" in res.stdout and "users 671" in res.stdout and "genres (list)" in res.stdout
    info = json.loads(recai("data", "info", "ml-latest-small", "--json").stdout)
    assert info["interactions"] == 100004 and info["attributes"]["year"]["type"] == "int"


def test_convert_to_recai_and_catalog(tmp_path):
    res = recai("data", "convert", "ml-latest-small", "--to", "recai", "--kcore", "20", "--out", str(tmp_path / "r"))
    assert res.returncode == 0, res.stderr
    back = recai("data", "info", str(tmp_path / "r"), "--json")
    info = json.loads(back.stdout)
    assert info["items"] == info["items_with_interactions"] and info["history_length"]["min"] >= 20
    res = recai("data", "convert", "ml-latest-small", "--to", "catalog", "--out", str(tmp_path / "c.db"))
    assert res.returncode == 0 and (tmp_path / "c.db").stat().st_size > 0


def test_bad_file_reports_file_and_line_or_skips(tmp_path):
    events = tmp_path / "e.csv"
    events.write_text("u,i\na,x\nb\n")
    res = recai("data", "convert", str(events), "--columns", "user=u,item=i", "--out", str(tmp_path / "o"))
    assert res.returncode == 2 and "e.csv:3: expected 2 fields" in res.stderr and "--skip-bad" in res.stderr
    assert not (tmp_path / "o").exists()
    res = recai("data", "info", str(events), "--columns", "user=u,item=i", "--skip-bad")
    assert res.returncode == 0 and "skipped rows: e.csv: expected 2 fields ×1" in res.stdout
    res = recai("data", "info", str(events))
    assert res.returncode == 2 and "missing column(s) ['user', 'item']" in res.stderr
