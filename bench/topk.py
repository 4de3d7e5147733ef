"""Exact top-k inner-product search: recai's `kernels.topk` against FAISS IndexFlatIP and naive torch.

For each item count N, dimension d, query batch Q and k, the three run in the same process on the
same random float32 vectors (standard normal, a fixed seed) and the script prints queries per
second, the ratio to FAISS, and each one's peak extra memory (resident set growth during the
search, read from /proc: VmHWM after resetting it). Naive torch materialises the full (Q, N) score
matrix and calls torch.topk; it is skipped when that matrix alone would pass --naive-limit-gb.
The ids returned by recai and FAISS are compared (share of identical result lists; near-ties in
float32 can swap places between two exact searches, so a small shortfall from 100% is expected).

    python bench/topk.py                         # N=1M, d=128,384, Q=1,1024, k=10,100 (~10 min)
    python bench/topk.py --n 200000 --dims 128   # quicker
    python bench/topk.py --threads 1
"""
from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kernels import topk  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog="\n\n".join(__doc__.split("\n\n")[1:]),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=1_000_000, help="items (default 1,000,000)")
    p.add_argument("--dims", default="128,384", help="comma-separated dimensions (default 128,384)")
    p.add_argument("--queries", default="1,1024", help="comma-separated query batch sizes (default 1,1024)")
    p.add_argument("--ks", default="10,100", help="comma-separated k values (default 10,100)")
    p.add_argument("--reps", type=int, default=3, help="timed repetitions per cell; the best is kept (default 3)")
    p.add_argument("--threads", type=int, default=0, help="threads for torch and FAISS (default: torch's)")
    p.add_argument("--naive-limit-gb", type=float, default=6.0,
                   help="skip naive torch when its score matrix exceeds this (default 6)")
    args = p.parse_args(argv)
    args.dims, args.queries, args.ks = ([int(x) for x in s.split(",")] for s in (args.dims, args.queries, args.ks))
    return args


def rss_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def peak_extra_mb(fn) -> tuple[object, float]:
    """Run fn once; the growth of the resident set's peak over the resident set before it, in MB."""
    gc.collect()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # resets VmHWM to the current RSS
    before = rss_kb("VmRSS")
    out = fn()
    return out, (rss_kb("VmHWM") - before) / 1024


def best_seconds(fn, reps: int) -> float:
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main(argv=None) -> int:
    args = parse_args(argv)
    import faiss

    if args.threads:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    faiss.omp_set_num_threads(threads)
    print(f"N={args.n:,}, float32, {threads} threads, torch {torch.__version__}, faiss {faiss.__version__}")
    head = ["d", "Q", "k", "recai q/s", "faiss q/s", "naive q/s", "recai/faiss", "recai/naive",
            "recai MB", "faiss MB", "naive MB", "same ids"]
    rows = []
    for d in args.dims:
        g = torch.Generator().manual_seed(d)
        items = torch.randn(args.n, d, generator=g)
        index = faiss.IndexFlatIP(d)
        index.add(items.numpy())
        for Q in args.queries:
            queries = torch.randn(Q, d, generator=g)
            for k in args.ks:
                ours, ours_mb = peak_extra_mb(lambda: topk(queries, items, k))
                theirs, faiss_mb = peak_extra_mb(lambda: index.search(queries.numpy(), k))
                t_ours = best_seconds(lambda: topk(queries, items, k), args.reps)
                t_faiss = best_seconds(lambda: index.search(queries.numpy(), k), args.reps)
                naive_gb = Q * args.n * 4 / 1e9
                if naive_gb <= args.naive_limit_gb:
                    _, naive_mb = peak_extra_mb(lambda: (queries @ items.T).topk(k, dim=1))
                    t_naive = best_seconds(lambda: (queries @ items.T).topk(k, dim=1), args.reps)
                else:
                    naive_mb, t_naive = None, None
                same = (ours[1] == torch.from_numpy(theirs[1])).all(1).float().mean().item()
                row = [d, Q, k, Q / t_ours, Q / t_faiss, Q / t_naive if t_naive else None, t_faiss / t_ours,
                       t_naive / t_ours if t_naive else None, ours_mb, faiss_mb, naive_mb, same]
                rows.append(row)
                print("  ".join(f"{h}={_fmt(v)}" for h, v in zip(head, row)), file=sys.stderr, flush=True)
        del index, items
    print("\n| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for row in rows:
        print("| " + " | ".join(_fmt(v) for v in row) + " |")
    return 0


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.2f}" if v < 100 else f"{v:,.0f}"
    return str(v)


if __name__ == "__main__":
    sys.exit(main())
