"""`recai eval knowledge` refuses what it cannot run before loading anything heavy."""
import pytest

from recai.cli import main


def test_kg_configs_need_a_graph(capsys):
    with pytest.raises(SystemExit, match="ml-latest-small has no knowledge graph here"):
        main(["eval", "knowledge", "--dataset", "ml-latest-small", "--configs", "none,kg"])


def test_unknown_configs_are_named():
    with pytest.raises(SystemExit, match=r"unknown --configs \['wiki'\]"):
        main(["eval", "knowledge", "--dataset", "ml-latest-small", "--kg", "none", "--configs", "none,wiki"])


def test_a_kg_folder_without_files_is_refused(tmp_path):
    with pytest.raises(SystemExit, match="no <name>.kg with a <name>.link"):
        main(["eval", "knowledge", "--dataset", "ml-latest-small", "--kg", str(tmp_path)])
