"""Training throughput: recai against transformers + peft (LoRA SFT) and sentence-transformers (contrastive).

LoRA SFT: SmolLM2-135M-Instruct (the GGUF dequantised to fp32; transformers loads the same weights
through recai's save_pretrained), LoRA r=8, alpha=16, dropout 0.05 on q/k/v/o/gate/up/down, AdamW
lr 2e-4, the same right-padded batches with prompt tokens masked. recai runs `recai.train.fit`;
the peers run a plain PyTorch loop (forward with labels, backward, step) - no Trainer overhead, so
the strongest version of them. Tokens/s counts real (non-padding) tokens.

Contrastive: all-MiniLM-L6-v2 on RecLM-emb triples (query, positive, one hard negative) from
ml-latest-small, batch 32, AdamW lr 5e-5, InfoNCE at temperature 0.05 (MultipleNegativesRankingLoss
with scale 20 is the same loss). sentence-transformers runs its own tokenisation, model and loss in
a plain loop as above, with its dropout set to 0 as recai's BERT has none. Examples/s counts (query, positive, negative) triples.

Each side runs its steps after warm-up steps; the two alternate (recai, peer, recai, peer) and the
best of the rounds counts.

    python bench/train.py                       # both parts (~10 min on 2 cores)
    python bench/train.py --part sft --steps 6 --batch-size 8 --seq 128
    python bench/train.py --part contrastive --steps 20
"""
from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from recai.nn.lora import LLAMA_PROJECTIONS  # noqa: E402

TARGETS = list(LLAMA_PROJECTIONS)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog="\n\n".join(__doc__.split("\n\n")[1:]),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--part", choices=("sft", "contrastive", "both"), default="both")
    p.add_argument("--steps", type=int, default=0, help="timed steps per round (default: sft 4, contrastive 15)")
    p.add_argument("--warmup", type=int, default=1, help="untimed steps first (default 1)")
    p.add_argument("--rounds", type=int, default=2, help="alternating rounds; the best counts (default 2)")
    p.add_argument("--batch-size", type=int, default=0, help="default: sft 8, contrastive 32")
    p.add_argument("--seq", type=int, default=128, help="sft: tokens per example, about (default 128)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's)")
    return p.parse_args(argv)


# ---- LoRA SFT --------------------------------------------------------------------------------
def sft_rows(n: int, seq: int, seed: int = 0) -> list[dict]:
    """Chat rows about movies: a request, then a numbered answer; about `seq` tokens each."""
    import recai.data as rd

    rng = random.Random(seed)
    titles = rd.load().catalog.values("title")
    rows = []
    for _ in range(n):
        liked = ", ".join(rng.choice(titles) for _ in range(3))
        answer = "\n".join(f"{k}. {rng.choice(titles)} - a fine pick for you." for k in range(1, seq // 24 + 2))
        rows.append({"messages": [{"role": "user", "content": f"I liked {liked}. What should I watch next?"},
                                  {"role": "assistant", "content": answer}]})
    return rows


def bench_sft(args) -> list[str]:
    import peft
    import transformers

    from recai.hub import fetch
    from recai.nn.llama import Llama
    from recai.nn.lora import apply_lora
    from recai.text import Tokenizer
    from recai.train import TrainConfig
    from recai.train.loop import fit
    from recai.train.sft import IGNORE, SFTTask, prepare

    B = args.batch_size or 8
    steps = args.steps or 4
    gguf = fetch("smollm2-135m-instruct")
    tok = Tokenizer.from_pretrained(gguf)
    ours = Llama.from_pretrained(gguf)
    tmp = Path(tempfile.mkdtemp())
    ours.save_pretrained(tmp)
    theirs = transformers.LlamaForCausalLM.from_pretrained(tmp, dtype=torch.float32)
    theirs.config.use_cache = False
    apply_lora(ours, TARGETS, r=8, alpha=16, dropout=0.05)
    theirs = peft.get_peft_model(theirs, peft.LoraConfig(r=8, lora_alpha=16, lora_dropout=0.05, target_modules=TARGETS))
    examples, _ = prepare(sft_rows(B * (steps + args.warmup) * 2, args.seq), tok, max_length=args.seq + 64)
    task = SFTTask(examples, tok.pad_id if tok.pad_id is not None else tok.eos_id)
    batches = [task.collate(list(range(lo, lo + B))) for lo in range(0, B * (steps + args.warmup), B)]
    tokens = sum(b["tokens"] for b in batches[args.warmup:])
    # recai: fit() over exactly these batches (bucketing off, one pass, no clipping like the peer loop)
    order_task = _FixedOrder(task, batches)
    cfg = TrainConfig(lr=2e-4, max_steps=len(batches), batch_size=1, max_grad_norm=None, log_every=10 ** 9)
    opt = torch.optim.AdamW([p for p in theirs.parameters() if p.requires_grad], lr=2e-4)

    def run_ours():
        order_task.reset()
        order_task.t_start = None
        fit(ours, order_task, cfg, progress=False, bucket=False)
        return time.perf_counter() - order_task.t_start

    def run_theirs():
        theirs.train()
        t0 = None
        for k, b in enumerate(batches):
            if k == args.warmup:
                t0 = time.perf_counter()
            labels = b["labels"].masked_fill(b["labels"] == IGNORE, -100)
            out = theirs(input_ids=b["ids"], attention_mask=(b["ids"] != -1).long(), labels=labels)
            out.loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
        return time.perf_counter() - t0

    a, b = _alternate(run_ours, run_theirs, args.rounds)
    ra, rb = tokens / a, tokens / b
    return [f"LoRA SFT, SmolLM2-135M fp32, r=8 on 7 projections, batch {B} x ~{args.seq + 40} tokens, "
            f"{steps} timed steps, {torch.get_num_threads()} threads",
            "| impl | tokens/s | ratio |", "|---|---|---|",
            f"| recai fit (LoRA) | {ra:.0f} | {ra / rb:.2f}x |", f"| transformers + peft loop | {rb:.0f} | 1.00x |"]


class _FixedOrder:
    """A task whose examples are given batches, served in order: index i is batch i (fit sees
    batch size 1 "examples" that are whole batches). Records when the first timed step starts."""

    unit = "tok"

    def __init__(self, task, batches, warmup: int = 1):
        self.task, self.batches, self.warmup = task, batches, warmup
        self.lengths = [1] * len(batches)
        self.seen, self.t_start = 0, None

    def reset(self):
        self.seen = 0

    def collate(self, indices):
        (i,) = indices
        if self.seen == self.warmup and self.t_start is None:
            self.t_start = time.perf_counter()
        self.seen += 1
        return self.batches[self.seen - 1]

    def count(self, batch):
        return self.task.count(batch)

    def amount(self, batch):
        return batch["tokens"]

    def loss_sum(self, model, batch):
        return self.task.loss_sum(model, batch)


# ---- contrastive -----------------------------------------------------------------------------
def bench_contrastive(args) -> list[str]:
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.losses import MultipleNegativesRankingLoss

    import recai.data as rd
    from recai.emb.finetune import training_triples
    from recai.emb.tasks import build_tasks, catalog_texts
    from recai.hub import fetch
    from recai.nn.bert_weights import load_bert
    from recai.text import Tokenizer
    from recai.train import TrainConfig
    from recai.train.contrastive import train_contrastive

    B = args.batch_size or 32
    steps = args.steps or 15
    ds = rd.load()
    split = build_tasks(ds.catalog, ds.interactions, n_train=(steps + args.warmup) * B // 8 + 10, n_test=0)
    triples = [t for t in training_triples(split, catalog_texts(ds.catalog)) if t[2]][:(steps + args.warmup) * B]
    random.Random(0).shuffle(triples)
    folder = fetch("minilm-l6")
    ours, tok = load_bert(folder), Tokenizer.from_pretrained(folder)
    theirs = SentenceTransformer(str(folder), device="cpu")
    theirs.max_seq_length = 64
    # recai's BERT has no dropout; switching theirs off too keeps the two computing the same thing
    # (and makes the peer faster than it is by default).
    for module in theirs.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    loss_fn = MultipleNegativesRankingLoss(theirs, scale=20.0)
    opt = torch.optim.AdamW(theirs.parameters(), lr=5e-5)
    timed = triples[args.warmup * B:]
    clock = {}

    def run_ours():
        cfg = TrainConfig(lr=5e-5, max_steps=args.warmup, batch_size=B, max_grad_norm=None)
        train_contrastive(ours, tok, triples[:args.warmup * B], cfg, max_length=64, progress=False)
        t0 = time.perf_counter()
        cfg = TrainConfig(lr=5e-5, max_steps=steps, batch_size=B, max_grad_norm=None)
        train_contrastive(ours, tok, timed, cfg, max_length=64, progress=False)
        clock["ours"] = time.perf_counter() - t0
        return clock["ours"]

    def run_theirs():
        theirs.train()
        t0 = None
        for k in range(steps + args.warmup):
            if k == args.warmup:
                t0 = time.perf_counter()
            chunk = triples[k * B:(k + 1) * B]
            features = [theirs.tokenize([t[0] for t in chunk]), theirs.tokenize([t[1] for t in chunk]),
                        theirs.tokenize([t[2][0] for t in chunk])]
            loss = loss_fn(features, None)
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
        return time.perf_counter() - t0

    a, b = _alternate(run_ours, run_theirs, args.rounds)
    n = steps * B
    ra, rb = n / a, n / b
    return [f"Contrastive, all-MiniLM-L6-v2 fp32, batch {B} (query, positive, 1 hard negative), max 64 tokens, "
            f"{steps} timed steps, {torch.get_num_threads()} threads",
            "| impl | examples/s | ratio |", "|---|---|---|",
            f"| recai train_contrastive | {ra:.1f} | {ra / rb:.2f}x |",
            f"| sentence-transformers MNRL loop | {rb:.1f} | 1.00x |"]


def _alternate(ours, theirs, rounds: int) -> tuple[float, float]:
    a, b = [], []
    for _ in range(rounds):
        a.append(ours())
        b.append(theirs())
    return min(a), min(b)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    lines = []
    if args.part in ("sft", "both"):
        lines += bench_sft(args) + [""]
    if args.part in ("contrastive", "both"):
        lines += bench_contrastive(args)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
