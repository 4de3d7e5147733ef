"""Time `import recai` after `import torch`, in fresh interpreters, and list what it pulls in.

    python bench/import_time.py            # 10 fresh processes, prints median and worst
The claim: under 0.5 s, and nothing beyond the standard library and the six runtime dependencies.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

PROBE = """
import json, sys, time
import torch
before = set(sys.modules)
t = time.perf_counter()
import recai
from recai import Llama, Tokenizer, generate
import recai.hub, recai.cli, recai.nn.llama_weights
elapsed = time.perf_counter() - t
new = sorted({m.split('.')[0] for m in set(sys.modules) - before})
print(json.dumps({"plain": None, "full": elapsed, "modules": new}))
"""

PLAIN = """
import json, time
import torch
t = time.perf_counter()
import recai
print(json.dumps({"plain": time.perf_counter() - t}))
"""


def run(code: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=10)
    args = ap.parse_args()
    plain = [run(PLAIN)["plain"] for _ in range(args.runs)]
    full = [run(PROBE) for _ in range(args.runs)]
    times = [r["full"] for r in full]
    print(f"import recai (lazy package)                 median {1e3 * statistics.median(plain):7.1f} ms, "
          f"worst {1e3 * max(plain):7.1f} ms")
    print(f"import recai + Llama, Tokenizer, generate,  median {1e3 * statistics.median(times):7.1f} ms, "
          f"worst {1e3 * max(times):7.1f} ms")
    print("  hub, cli, checkpoint loaders")
    print("top-level modules newly imported:", ", ".join(full[0]["modules"]))
    print("target: < 500 ms after torch:", "met" if max(times) < 0.5 else "NOT met")


if __name__ == "__main__":
    main()
