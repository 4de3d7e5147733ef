"""Sentences per second: recai's Embedder against sentence-transformers, same MiniLM weights, same inputs.

The corpus mixes what recai embeds in practice: ml-latest-small titles, titles with their genres
and tags, user-style requests, and a share of long texts that hit the 256-token limit. Both sides
get the same list, the same batch size, fp32, and run alternately rep by rep in one process; the
best rep of each counts. The vectors are compared too (worst cosine). Both sort texts by length;
recai also caps a batch at 4096 padded tokens (its default), so a batch of 64 texts at the
256-token limit runs as four passes of 16, whose activations the allocator can reuse.

    python bench/encode.py                    # 2000 texts, batch 64, 3 reps
    python bench/encode.py --n 5000 --batch-size 128 --threads 1
"""
from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import recai.data as rd  # noqa: E402
from recai.emb import Embedder  # noqa: E402
from recai.hub import fetch  # noqa: E402


def corpus(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    cat = rd.load().catalog
    titles, genres = cat.values("title"), cat.values("genres")
    out = []
    for _ in range(n):
        i = rng.randrange(len(titles))
        kind = rng.random()
        if kind < 0.4:
            out.append(titles[i])
        elif kind < 0.7:
            out.append(f"{titles[i]}. Genres: {', '.join(genres[i] or [])}")
        elif kind < 0.9:
            out.append(f"Looking for something like {titles[i]} but {rng.choice(['lighter', 'darker', 'older'])}, "
                       f"ideally a {rng.choice(genres[i] or ['drama'])} I can watch tonight")
        else:
            out.append(" ".join(rng.choice(titles) for _ in range(rng.randint(30, 60))))  # past 256 tokens
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog="\n\n".join(__doc__.split("\n\n")[1:]),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=2000, help="texts (default 2000)")
    p.add_argument("--batch-size", type=int, default=64, help="texts per forward pass, both sides (default 64)")
    p.add_argument("--reps", type=int, default=3, help="alternating timed reps; the best counts (default 3)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    from sentence_transformers import SentenceTransformer

    if args.threads:
        torch.set_num_threads(args.threads)
    folder = fetch("minilm-l6")
    texts = corpus(args.n, args.seed)
    ours = Embedder.from_pretrained(str(folder))
    theirs = SentenceTransformer(str(folder), device="cpu")
    run_ours = lambda: ours.encode(texts, batch_size=args.batch_size)  # noqa: E731
    run_theirs = lambda: theirs.encode(texts, batch_size=args.batch_size, convert_to_tensor=True)  # noqa: E731
    run_ours(), run_theirs()  # warm-up: allocator, oneDNN primitives
    t_ours, t_theirs = [], []
    for _ in range(args.reps):
        for fn, times in ((run_ours, t_ours), (run_theirs, t_theirs)):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
    cos = (run_ours() * run_theirs().float()).sum(-1)
    a, b = args.n / min(t_ours), args.n / min(t_theirs)
    print(f"{args.n} texts, batch {args.batch_size} (recai: at most 4096 tokens per pass), fp32, "
          f"{torch.get_num_threads()} threads, all-MiniLM-L6-v2")
    print("| impl | sentences/s | ratio |\n|---|---|---|")
    print(f"| recai Embedder | {a:.1f} | {a / b:.2f}x |\n| sentence-transformers | {b:.1f} | 1.00x |")
    print(f"worst cosine between the two: {float(cos.min()):.7f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
