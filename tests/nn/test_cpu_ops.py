"""recai's compiled CPU operators: a failed build says why and leaves nothing behind; the library
is keyed by what it was compiled for; RECAI_CPU_OPS=0 keeps every caller on its ATen path."""
from pathlib import Path

import pytest

from recai.nn import cpu_ops


def test_a_failed_build_names_the_compiler_and_sources(tmp_path, monkeypatch):
    monkeypatch.setenv("CXX", "false")  # a "compiler" that always fails
    with pytest.raises(RuntimeError, match="false failed on .*decode_step.cpp, .*rows_linear.cpp"):
        cpu_ops.build(tmp_path / "ops.so", quiet=True)
    assert list(tmp_path.iterdir()) == []  # no half-written library left behind


def test_no_compiler_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("CXX", raising=False)
    monkeypatch.setattr(cpu_ops.shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="no C\\+\\+ compiler found"):
        cpu_ops.build(tmp_path / "ops.so", quiet=True)


def test_the_library_is_keyed_by_the_cpu(monkeypatch, tmp_path):
    monkeypatch.setenv("RECAI_HOME", str(tmp_path))
    monkeypatch.setattr(cpu_ops, "cpu_flags", lambda: "avx2 fma")
    avx2 = cpu_ops.library_path()
    monkeypatch.setattr(cpu_ops, "cpu_flags", lambda: "avx2 avx512f fma")
    assert cpu_ops.library_path() != avx2  # -march=native code must not run on another CPU
    assert avx2.parent == tmp_path / "build"


def test_turned_off_nothing_is_built_or_loaded(monkeypatch):
    monkeypatch.setattr(cpu_ops, "_state", {})
    monkeypatch.setenv("RECAI_CPU_OPS", "0")
    monkeypatch.setattr(cpu_ops, "build", lambda *a, **k: pytest.fail("built although turned off"))
    assert cpu_ops.load() is False
    assert cpu_ops.why_not() == "RECAI_CPU_OPS=0"


def test_every_source_file_is_built_keyed_and_shipped():
    on_disk = {p.name for p in cpu_ops.CSRC.iterdir() if p.suffix in (".cpp", ".h")}
    assert on_disk == {p.name for p in cpu_ops.SOURCES + cpu_ops.HEADERS}  # a header change must rebuild
    setup = (Path(cpu_ops.__file__).parents[2] / "setup.py").read_text()
    assert '"csrc/*.cpp", "csrc/*.h"' in setup  # installed (non-editable) copies can compile too
