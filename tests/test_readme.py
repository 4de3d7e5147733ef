"""The README's two commands are the ones CI and users run."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```bash\n(.+?)\n```", text, flags=re.S)[:2]


def test_ci_runs_the_readme_test_command_verbatim():
    _, test_cmd = readme_commands()
    ci_lines = [ln for ln in (ROOT / ".ci/run").read_text().splitlines() if ln and not ln.startswith(("#", "set ", "cd "))]
    assert ci_lines == [test_cmd]


def test_readme_main_command_installs_and_runs_recai():
    main_cmd, _ = readme_commands()
    assert "pip install" in main_cmd and "torch==2.13.0" in main_cmd
    assert main_cmd.endswith("recai demo")


def test_setup_runtime_requirements_are_exactly_the_six():
    import ast

    tree = ast.parse((ROOT / "setup.py").read_text())
    runtime = next(n.value for n in ast.walk(tree) if isinstance(n, ast.Assign) and n.targets[0].id == "RUNTIME")
    names = {re.split(r"[<>=!~\[ ]", e.value)[0] for e in runtime.elts}
    assert names == {"torch", "numpy", "tokenizers", "safetensors", "sentencepiece", "requests"}
