"""recai's compiled CPU operators (recai/nn/csrc/): built once on first use, loaded into torch.ops.recai.

Two operators live in one library: `decode_step` (a whole Llama decode step as one call,
recai/nn/cpu_decode.py) and `rows_linear` (the decode-sized matmul both decode paths use,
recai/nn/cpu_linear.py). The sources are compiled with the system C++ compiler into
`$RECAI_HOME/build/` (announced on stderr; under a minute), for this machine's CPU (-march=native),
so the library is keyed by the sources, the torch build and the CPU's instruction-set flags. Where
there is no compiler or the build fails, `load()` returns False once, with the reason kept and
printed, and every caller takes its ATen path, which gives the same answers to rounding.
"""
from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

CSRC = Path(__file__).with_name("csrc")
SOURCES = (CSRC / "decode_step.cpp", CSRC / "rows_linear.cpp")
HEADERS = (CSRC / "rows_linear.h",)

_state: dict = {}  # "ok": the library is loaded, or "error": why it is not (tried once per process)


def cpu_flags() -> str:
    """This CPU's instruction-set flags (Linux), else the processor name: what -march=native targets."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(("flags", "Features")):
                    return " ".join(sorted(line.split(":", 1)[1].split()))
    except OSError:
        pass
    return platform.processor()


def library_path() -> Path:
    """Where the compiled library lives: keyed by the sources, the torch build, the platform and the CPU."""
    from recai.hub.files import cache_dir

    key = hashlib.sha256()
    for path in SOURCES + HEADERS:
        key.update(path.read_bytes())
    key.update(f"{torch.__version__}|{platform.machine()}|{sys.platform}|{cpu_flags()}".encode())
    return cache_dir() / "build" / f"recai_ops-{key.hexdigest()[:16]}.so"


def _compiler() -> str:
    cxx = os.environ.get("CXX") or shutil.which("c++") or shutil.which("g++") or shutil.which("clang++")
    if not cxx:
        raise RuntimeError("no C++ compiler found (install g++ or clang++, or set CXX)")
    return cxx


def build(target: Path, quiet: bool = False) -> Path:
    """Compile the sources into `target` (written atomically). Raises RuntimeError saying why not."""
    cxx = _compiler()
    torch_dir = Path(torch.__file__).parent
    common = ["-shared", "-fPIC", "-std=c++17", f"-D_GLIBCXX_USE_CXX11_ABI={int(torch._C._GLIBCXX_USE_CXX11_ABI)}",
              f"-I{torch_dir / 'include'}", f"-I{torch_dir / 'include' / 'torch' / 'csrc' / 'api' / 'include'}",
              "-w"]  # torch's headers warn under -std=c++17; their warnings are not ours to fix
    # -march=native vectorises rows_linear for this CPU; -fopenmp makes at::parallel_for (an OpenMP
    # loop in torch's headers) use torch's threads (the loader shares torch's libgomp by its soname);
    # -ffp-contract=fast lets multiply-adds fuse, as they do in torch's own kernels.
    fast = ["-O3", "-march=native", "-ffp-contract=fast", "-fopenmp"]
    libs = [f"-L{torch_dir / 'lib'}", "-lc10", "-ltorch_cpu"]
    if sys.platform == "darwin":
        libs.append("-undefined dynamic_lookup")
    target.parent.mkdir(parents=True, exist_ok=True)
    if not quiet:
        print(f"recai: compiling recai's CPU operators once for this CPU and torch {torch.__version__} "
              f"(under a minute) into {target.parent}", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(prefix=target.name + ".", dir=target.parent) as tmp:
        out = Path(tmp) / target.name
        error = _compile(cxx, fast + common, libs, out)
        if error:
            # A compiler without -march=native or OpenMP (Apple clang, say): portable flags, one thread.
            error = _compile(cxx, ["-O3", *common], libs, out)
        if error:
            raise RuntimeError(f"{cxx} failed on {', '.join(str(s) for s in SOURCES)}:\n{error[-2000:]}")
        os.replace(out, target)  # atomic: a concurrent process sees no file or a whole one
    return target


def _compile(cxx: str, flags: list[str], libs: list[str], out: Path) -> str | None:
    """Compile the sources side by side (one process each: torch's headers make each take a while),
    then link them into `out`; the compiler's error output on failure, else None."""
    objects = [out.with_name(f"{s.stem}.o") for s in SOURCES]
    jobs = [subprocess.Popen([cxx, *flags, "-c", str(s), "-o", str(o)], stderr=subprocess.PIPE, text=True)
            for s, o in zip(SOURCES, objects)]
    errors = [job.communicate()[1] for job in jobs]
    failed = [(s, job.returncode, e) for s, job, e in zip(SOURCES, jobs, errors) if job.returncode]
    if failed:
        return "".join(f"{s.name}: exit status {rc}\n{e}" for s, rc, e in failed)
    done = subprocess.run([cxx, *flags, *map(str, objects), *libs, "-o", str(out)], capture_output=True, text=True)
    return f"linking: exit status {done.returncode}\n{done.stderr}" if done.returncode else None


def load() -> bool:
    """Whether torch.ops.recai's operators are available, building them on first use."""
    if "ok" in _state or "error" in _state:
        return "ok" in _state
    if os.environ.get("RECAI_CPU_OPS", "1") == "0":
        _state["error"] = "RECAI_CPU_OPS=0"
        return False
    try:
        path = library_path()
        if not path.exists():
            build(path)
        torch.ops.load_library(str(path))
        _state["ok"] = True
    except (RuntimeError, OSError) as e:
        _state["error"] = str(e)
        print(f"recai: running without recai's compiled CPU operators: {e}", file=sys.stderr, flush=True)
    return "ok" in _state


def why_not() -> str | None:
    """The reason the compiled operators are unavailable in this process, once load() has failed."""
    return _state.get("error")
