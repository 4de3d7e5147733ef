"""`recai train gen-sft`, `recai train gen-ppo` and `recai eval gen`: RecLM-gen from the command line.

A run folder holds everything the next step needs: `teacher/` (the SASRec teacher, trained once on
the leave-one-out training split), `adapter/` (PEFT layout) and `report.json`. Progress goes to
stderr; `recai eval gen` prints a markdown row per configuration to stdout.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

DEFAULT_BASE = "smollm2-135m-instruct"


def add_gen_train_parsers(train_sub) -> None:
    p = train_sub.add_parser(
        "gen-sft", help="RecLM-gen: LoRA-SFT a small model to recommend catalog items",
        description="Train a SASRec teacher on the leave-one-out training split, build RecLM-gen's SFT tasks "
                    "(next items, candidate ranking, category and count control, general chat) and LoRA-SFT the "
                    "model on them. The adapter goes to OUT/adapter, the teacher to OUT/teacher.",
        epilog="examples:\n  recai train gen-sft --out runs/gen-sft\n"
               "  recai train gen-sft --n-train 300 --out runs/gen-quick\n"
               "  recai eval gen --adapter runs/gen-sft/adapter --teacher runs/gen-sft/teacher",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    _common(p)
    p.add_argument("--n-train", type=int, default=1400, help="SFT examples (default 1400)")
    p.add_argument("--epochs", type=float, default=1.0, help="passes over them (default 1)")
    p.add_argument("--lr", type=float, default=6e-4, help="learning rate (default 6e-4)")
    p.add_argument("--batch-size", type=int, default=8, help="examples per step (default 8)")
    p.add_argument("--rank", type=int, default=16, help="LoRA rank (default 16)")
    p.add_argument("--out", type=Path, default=Path("runs/gen-sft"), help="run folder (default runs/gen-sft)")
    p.set_defaults(func=cmd_gen_sft)

    p = train_sub.add_parser(
        "gen-ppo", help="RecLM-gen: PPO with recommendation rewards on top of a gen-sft run",
        description="Merge the SFT adapter into the model, put a fresh LoRA adapter on top (the reference policy "
                    "is the SFT model) and run PPO on recommendation requests with RecLM-gen's rewards: -1 for an "
                    "invalid, repeated, already seen or surplus item, 1/log2(teacher rank + 2) otherwise, 1 for "
                    "the true next item, a category-control score and a count reward on the final token.",
        epilog="examples:\n  recai train gen-ppo --sft runs/gen-sft --out runs/gen-ppo\n"
               "  recai eval gen --adapter runs/gen-sft/adapter --adapter runs/gen-ppo/adapter "
               "--teacher runs/gen-sft/teacher",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    _common(p)
    p.add_argument("--sft", type=Path, required=True, help="the gen-sft run folder (its adapter and teacher)")
    p.add_argument("--updates", type=int, default=20, help="PPO updates (default 20)")
    p.add_argument("--rollout-batch", type=int, default=8, help="requests per update (default 8)")
    p.add_argument("--lr", type=float, default=2e-4, help="actor learning rate (default 2e-4)")
    p.add_argument("--kl-coef", type=float, default=0.05,
                   help="per-token KL penalty (default 0.05; the start value with --kl-target)")
    p.add_argument("--kl-target", type=float,
                   help="adapt the KL coefficient after each update towards this KL per reply, in nats "
                        "(default: a fixed coefficient)")
    p.add_argument("--temperature", type=float, default=1.0,
                   help="policy temperature: rollouts sample softmax(logits / T) and PPO trains that policy "
                        "(default 1; below 1 stays nearer the greedy replies that `recai eval gen` scores)")
    p.add_argument("--max-new-tokens", type=int, default=200, help="tokens per rollout (default 200)")
    p.add_argument("--out", type=Path, default=Path("runs/gen-ppo"), help="run folder (default runs/gen-ppo)")
    p.set_defaults(func=cmd_gen_ppo)


def add_gen_eval_parser(eval_sub) -> None:
    p = eval_sub.add_parser(
        "gen", help="RecLM-gen: NDCG@10, Recall@10, invalid / repeat / in-history rates, count and category control",
        description="Ask held-out users' histories for their next 10 items, an exact number of items and a "
                    "category, and score the replies after grounding them in the catalog.",
        epilog="examples:\n  recai eval gen                                  # zero-shot SmolLM2-135M\n"
               "  recai eval gen --adapter runs/gen-sft/adapter --teacher runs/gen-sft/teacher --constrained",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    _common(p)
    p.add_argument("--adapter", type=Path, action="append", default=[],
                   help="LoRA adapter to merge in (repeatable, in order: SFT, then PPO)")
    p.add_argument("--teacher", type=Path, help="a saved SASRec teacher (default: train one)")
    p.add_argument("--users", type=int, default=100, help="held-out users (default 100; two requests each)")
    p.add_argument("--constrained", action="store_true", help="decode under the catalog-title constraint")
    p.add_argument("--temperature", type=float, default=0.0,
                   help="0 (default): greedy replies; above 0: sampled replies, seeded by --seed")
    p.add_argument("--max-new-tokens", type=int, default=256,
                   help="tokens per reply (default 256: ten long titles need over 200)")
    p.add_argument("--json", type=Path, help="also write the scores here")
    p.add_argument("--replies", type=Path,
                   help="score the replies stored in an earlier --json file instead of generating (same --users "
                        "and --seed; e.g. after a reward change)")
    p.set_defaults(func=cmd_eval_gen)


def _common(p) -> None:
    p.add_argument("--base", default=DEFAULT_BASE, help=f"model SPEC (default {DEFAULT_BASE})")
    p.add_argument("--dataset", default="ml-latest-small", help="dataset (default ml-latest-small)")
    p.add_argument("--teacher-epochs", type=int, default=12, help="SASRec teacher epochs when one is trained")
    p.add_argument("--seed", type=int, default=0)


class Setup:
    """Dataset, leave-one-out split, teacher and task builder, shared by the three commands."""

    def __init__(self, args, teacher_dir: Path | None = None):
        from recai.data import load
        from recai.gen.tasks import GenTaskBuilder
        from recai.recsys import SASRec
        from recai.recsys.loading import load_or_train
        from recai.text.fuzzy import TitleMatcher

        self.data = load(args.dataset)
        self.split = self.data.split("leave-one-out")
        def train():
            _note(f"training the SASRec teacher ({args.teacher_epochs} epochs)")
            return SASRec().fit(self.split.train, epochs=args.teacher_epochs, seed=args.seed)

        self.teacher = load_or_train(teacher_dir, train)
        catalog = self.data.catalog
        self.builder = GenTaskBuilder(catalog, self.split.train.sequences(), self.teacher,
                                      self.data.interactions.item_counts(), seed=args.seed)
        self.matcher = TitleMatcher(catalog.titles)
        self.categories = self.builder.categories or [[] for _ in range(len(catalog))]


def _load_model(base: str, adapters=()):
    from recai.llm import LocalLLM
    from recai.nn.lora_peft import merge_adapters

    llm = LocalLLM.from_spec(base)
    return merge_adapters(llm.model, adapters).eval(), llm.tokenizer


def cmd_gen_sft(args) -> int:
    import torch

    from recai.nn.lora import LLAMA_PROJECTIONS, apply_lora
    from recai.nn.lora_peft import save_adapter
    from recai.train import TrainConfig
    from recai.train.sft import train_sft

    start = time.monotonic()
    s = Setup(args)
    args.out.mkdir(parents=True, exist_ok=True)
    s.teacher.save(args.out / "teacher")
    rows = [ex.sft_row() for ex in s.builder.examples(args.n_train)]
    model, tok = _load_model(args.base)
    model.train()
    apply_lora(model, list(LLAMA_PROJECTIONS), r=args.rank, alpha=2 * args.rank, dropout=0.05)
    cfg = TrainConfig(lr=args.lr, epochs=args.epochs, batch_size=args.batch_size, warmup_steps=10, seed=args.seed,
                      log_every=10)
    result = train_sft(model, tok, rows, cfg, max_length=512, out_dir=args.out / "checkpoints")
    adapter = save_adapter(model, args.out / "adapter", base_model_name_or_path=args.base, dtype=torch.float16)
    report = {"base": args.base, "dataset": args.dataset, "n_train": args.n_train, "config": cfg.to_dict(),
              "first_loss": result.losses[0], "final_loss": result.losses[-1],
              "seconds": round(time.monotonic() - start, 1)}
    (args.out / "report.json").write_text(json.dumps(report, indent=1))
    print(adapter)
    return 0


def cmd_gen_ppo(args) -> int:
    import torch

    from recai.gen.tasks import teacher_ranks
    from recai.gen.train import gen_reward_fn
    from recai.nn.lora import LLAMA_PROJECTIONS, apply_lora
    from recai.nn.lora_peft import save_adapter
    from recai.train.ppo import PPOConfig, ValueHead, train_ppo

    start = time.monotonic()
    s = Setup(args, args.sft / "teacher")
    model, tok = _load_model(args.base, [args.sft / "adapter"])
    apply_lora(model, list(LLAMA_PROJECTIONS), r=8, alpha=16)
    examples = [ex for ex in s.builder.examples(400) if ex.task != "chat"]
    prompts = [tok.encode_chat(ex.messages(with_answer=False)) for ex in examples]
    reward = gen_reward_fn(examples, tok, s.matcher, lambda h: teacher_ranks(s.teacher, h), s.categories)
    cfg = PPOConfig(updates=args.updates, rollout_batch=args.rollout_batch, minibatch=min(4, args.rollout_batch),
                    lr=args.lr, kl_coef=args.kl_coef, kl_target=args.kl_target, temperature=args.temperature,
                    max_new_tokens=args.max_new_tokens, seed=args.seed)
    result = train_ppo(model, ValueHead(model.cfg.dim), tok, prompts, reward, cfg)
    args.out.mkdir(parents=True, exist_ok=True)
    adapter = save_adapter(model, args.out / "adapter", base_model_name_or_path=args.base, dtype=torch.float16)
    report = {"base": args.base, "sft": str(args.sft), "config": cfg.to_dict(), "history": result.history,
              "seconds": round(time.monotonic() - start, 1)}
    (args.out / "report.json").write_text(json.dumps(report, indent=1))
    print(adapter)
    return 0


def cmd_eval_gen(args) -> int:
    from recai.gen.constrain import TitleTrie
    from recai.gen.evaluate import eval_examples, generate_replies, score_replies

    s = Setup(args, args.teacher)
    test = s.split.test
    examples = eval_examples(s.builder, [list(h) for h in test.history], [int(t[0]) for t in test.targets],
                             args.users, seed=args.seed + 7)
    t0 = time.monotonic()
    if args.replies is not None:
        stored = json.loads(args.replies.read_text())
        rows = stored.get("examples", [])
        if [r.get("prompt") for r in rows] != [e.prompt for e in examples]:
            raise SystemExit(f"recai: {args.replies}: its requests are not this evaluation's (other --users, --seed "
                             "or dataset?)")
        replies, name = [r["reply"] for r in rows], stored.get("name", str(args.replies))
    else:
        model, tok = _load_model(args.base, args.adapter)
        trie = TitleTrie(s.data.catalog.titles, tok) if args.constrained else None
        replies = generate_replies(model, tok, examples, args.max_new_tokens, trie=trie,
                                   temperature=args.temperature, seed=args.seed)
        name = args.base + "".join(f" + {Path(a).parent.name}" for a in args.adapter) + \
            (" + constrained" if trie else "") + (f" @ T={args.temperature:g}" if args.temperature else "")
    scores = score_replies(examples, replies, s.matcher, s.teacher, s.categories)
    scores.seconds = round(time.monotonic() - t0, 1)
    print("| model | NDCG@10 | Recall@10 | invalid | repeat | in history | count acc | category acc | reward | s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    print(f"| {name} | {scores.ndcg10:.4f} | {scores.recall10:.4f} | {scores.invalid_rate:.1%} | "
          f"{scores.repeat_rate:.1%} | {scores.in_history_rate:.1%} | {scores.count_accuracy:.1%} | "
          f"{scores.category_accuracy:.1%} | {scores.mean_reward:.3f} | {scores.seconds:.0f} |")
    if args.json:
        args.json.write_text(json.dumps({"name": name, **scores.to_dict(),
                                         "examples": [{"prompt": e.prompt, "reply": r} for e, r in
                                                      zip(examples, replies)]}, indent=1))
    return 0


def _note(text: str) -> None:
    print(f"recai: {text}", file=sys.stderr, flush=True)
