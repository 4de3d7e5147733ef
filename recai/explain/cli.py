"""`recai train explainer`, `recai eval explainer` and `recai explain`: RecExplainer from the command line.

An explainer folder holds `target/` (the recommender it explains), `adapter/` (the LoRA adapter in
PEFT's layout, plus `projector.safetensors` + `projector.json` in intention and hybrid modes) and
`report.json` (base model, mode, target kind, training figures).
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

DEFAULT_BASE = "smollm2-135m-instruct"
TASKS = ("next_item", "ranking", "classify", "history")  # recai.explain.evaluate.TASKS, kept import-free


def add_explainer_train_parser(train_sub) -> None:
    p = train_sub.add_parser(
        "explainer", help="RecExplainer: align a small LM with a recommender (behaviour / intention / hybrid)",
        description="Train (or load) the target recommender, build alignment tasks from what it does (its top "
                    "item, its ranking of candidates, its yes/no interest, its item neighbours, the user's history, "
                    "template explanations, general chat) and LoRA-SFT the model on them. Intention and hybrid "
                    "modes also train a 2-layer projector that feeds the target's user and item vectors to the "
                    "model at <user> / <item> slots.",
        epilog="examples:\n  recai train explainer --target sasrec --mode hybrid --out runs/explain-hybrid\n"
               "  recai eval explainer --explainer runs/explain-hybrid\n"
               "  recai explain --explainer runs/explain-hybrid --user 12 --item 'Heat (1995)'",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    _common(p)
    p.add_argument("--mode", choices=("behaviour", "intention", "hybrid"), default="hybrid")
    p.add_argument("--n-train", type=int, default=800, help="alignment examples (default 800)")
    p.add_argument("--epochs", type=float, default=1.0)
    p.add_argument("--lr", type=float, default=5e-4, help="LoRA and projector learning rate (default 5e-4)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--rank", type=int, default=16, help="LoRA rank (default 16)")
    p.add_argument("--mix", type=_mix, metavar="TASK=W,...",
                   help="task weights, e.g. next_item=0.3,classify=0.3,ranking=0.1 (tasks left out get none; "
                        "default: recai.explain.tasks.DEFAULT_MIX)")
    p.add_argument("--next-item-k", type=int, default=1, metavar="K",
                   help="answer each next-item example with one of the target's top K items, drawn at random "
                        "(default 1: its top item; 10 teaches the list that Hit@10 measures)")
    p.add_argument("--out", type=Path, required=True, help="explainer folder")
    p.set_defaults(func=cmd_train_explainer)


def add_explainer_eval_parser(eval_sub) -> None:
    p = eval_sub.add_parser(
        "explainer", help="RecExplainer: fidelity of an explainer to its recommender",
        description="Next-item Hit@1/Hit@10 against the target's top items, ranking NDCG@5 against its order, "
                    "interest-classification accuracy and history-reconstruction recall, on held-out users.",
        epilog="examples:\n  recai eval explainer --explainer runs/explain-hybrid\n"
               "  recai eval explainer --untrained --mode intention --target-dir runs/explain-hybrid/target\n"
               "  recai eval explainer --explainer runs/explain-hybrid --tasks classify --judge openai:gpt-4o-mini",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    _common(p)
    p.add_argument("--explainer", type=Path, help="a `recai train explainer` folder")
    p.add_argument("--untrained", action="store_true",
                   help="the untrained surrogate: the base model (a freshly initialised projector in vector modes)")
    p.add_argument("--mode", choices=("behaviour", "intention", "hybrid"), help="with --untrained")
    p.add_argument("--users", type=int, default=40, help="held-out users (default 40; five questions each)")
    p.add_argument("--constrained", action="store_true",
                   help="answer next-item questions under the catalog-title constraint (one real, unseen title)")
    p.add_argument("--beam", type=int, default=1, metavar="W",
                   help="with --constrained: answer with the most likely whole title of a beam search of width W "
                        "(default 1: greedy under the constraint)")
    p.add_argument("--tasks", default=",".join(TASKS),
                   help=f"comma-separated subset of {','.join(TASKS)} (default all; the same prompts either way)")
    p.add_argument("--judge", metavar="SPEC",
                   help="also judge explanations: an LLM judge (a local model SPEC or openai:MODEL) compares, "
                        "pairwise, the explainer's explanation of each user's top recommendation with the base "
                        "model's (the evaluator's explanation judge: win / loss / tie, 1-3 scores per criterion)")
    p.add_argument("--api-base", metavar="URL", help="with --judge openai:MODEL: the API's base URL")
    p.add_argument("--explanations", type=int, default=20, metavar="N",
                   help="with --judge: held-out users whose explanations are judged (default 20)")
    p.add_argument("--json", type=Path, help="also write the scores and replies here")
    p.set_defaults(func=cmd_eval_explainer)


def add_explain_parser(sub) -> None:
    p = sub.add_parser("explain", help="RecExplainer: explain why the recommender suggests an item to a user",
                       description="Generate an explanation with a trained explainer. It answers from what it "
                                   "learnt of the target model (in intention and hybrid modes, reading the target's "
                                   "own user and item vectors); nothing the target computes is written into the "
                                   "prompt, so --facts prints the target's own numbers to check the words against.",
                       epilog="examples:\n"
                              "  recai explain --explainer runs/explain-hybrid --user 12 --item 'Heat (1995)'\n"
                              "  recai explain --explainer runs/explain-hybrid --user 12 --item 'Heat (1995)' --facts",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--explainer", type=Path, required=True)
    p.add_argument("--user", required=True, help="a user id of the dataset")
    p.add_argument("--item", required=True, help="an item id or title (fuzzy-matched)")
    p.add_argument("--dataset", default="ml-latest-small")
    p.add_argument("--max-new-tokens", type=int, default=96)
    p.add_argument("--facts", action="store_true",
                   help="also print what the target's numbers say: its rank for the item, the history items "
                        "closest to it in the target's item space, the genres they share")
    p.set_defaults(func=cmd_explain)


def _mix(text: str) -> dict[str, float]:
    """`task=weight,...` as a dict, checked against the builder's task names."""
    from recai.explain.tasks import TASKS as BUILDER_TASKS

    mix = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, weight = (x.strip() for x in part.partition("="))
        if not sep or name not in BUILDER_TASKS:
            raise argparse.ArgumentTypeError(
                f"{part!r}: expected TASK=WEIGHT with TASK one of {', '.join(BUILDER_TASKS)}")
        try:
            mix[name] = float(weight)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{part!r}: the weight {weight!r} is not a number") from None
        if mix[name] < 0:
            raise argparse.ArgumentTypeError(f"{part!r}: weights must be >= 0")
    if not mix or sum(mix.values()) <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: give at least one task with a positive weight")
    return mix


def _common(p) -> None:
    p.add_argument("--base", default=DEFAULT_BASE, help=f"model SPEC (default {DEFAULT_BASE})")
    p.add_argument("--dataset", default="ml-latest-small")
    p.add_argument("--target", choices=("sasrec", "mf"), default="sasrec", help="the recommender to explain")
    p.add_argument("--target-dir", type=Path, help="a saved target recommender (default: train one)")
    p.add_argument("--target-epochs", type=int, default=12)
    p.add_argument("--seed", type=int, default=0)


class Setup:
    """Dataset, split, target recommender and the held-out users (a seeded 10% of users)."""

    def __init__(self, dataset: str, target_kind: str, target_dir: Path | None, epochs: int | None, seed: int):
        """epochs None: the target must be saved in target_dir (a trained explainer's own target)."""
        from recai.data import load
        from recai.errors import CheckpointError
        from recai.explain.target import TargetModel
        from recai.recsys import BPRMF, SASRec
        from recai.recsys.loading import load_or_train

        self.data = load(dataset)
        self.split = self.data.split("leave-one-out")
        def train():
            if epochs is None:
                raise CheckpointError(f"{target_dir}: no saved {target_kind} target; an explainer is read with the "
                                      "target it was trained with")
            _note(f"training the {target_kind} target ({epochs} epochs)")
            model = SASRec() if target_kind == "sasrec" else BPRMF()
            return model.fit(self.split.train, epochs=epochs, seed=seed)

        self.recommender = recommender = load_or_train(target_dir, train)
        self.target = TargetModel(recommender)
        seqs = self.split.train.sequences()
        users = [u for u in range(len(seqs)) if len(seqs[u]) >= 2]
        random.Random(seed).shuffle(users)
        cut = max(1, len(users) // 10)
        self.eval_users = [(u, [int(i) for i in seqs[u]]) for u in users[:cut]]
        self.train_users = [(u, [int(i) for i in seqs[u]]) for u in users[cut:]]

    def builder(self, users, mode: str, seed: int, next_k: int = 1):
        from recai.explain.tasks import AlignTaskBuilder

        return AlignTaskBuilder(self.data.catalog, self.target, users, mode, seed=seed, next_k=next_k)


def load_explainer(folder: Path, dataset: str, seed: int = 0):
    """(model, tokenizer, slots or None, report, Setup over its own target) of a trained explainer folder."""
    from recai.errors import CheckpointError
    from recai.explain.projector import load_slots
    from recai.llm import LocalLLM
    from recai.nn.lora_peft import merge_adapters

    report_path = folder / "report.json"
    if not report_path.is_file():
        raise CheckpointError(f"{folder}: no report.json; not a `recai train explainer` folder")
    report = json.loads(report_path.read_text())
    llm = LocalLLM.from_spec(report["base"])
    model = merge_adapters(llm.model, [folder / "adapter"]).eval()
    s = Setup(dataset, report["target"], folder / "target", None, seed)
    slots = None
    if report["mode"] != "behaviour":
        slots, _ = load_slots(model, folder / "adapter")
        check_projector(slots, s.target, folder / "adapter")
    return model, llm.tokenizer, slots, report, s


def cmd_train_explainer(args) -> int:
    import torch

    from recai.explain.projector import Projector, SlotEmbedding, save_slots
    from recai.explain.train import build_task
    from recai.llm import LocalLLM
    from recai.nn.lora import LLAMA_PROJECTIONS, apply_lora
    from recai.nn.lora_peft import save_adapter
    from recai.train import TrainConfig
    from recai.train.loop import fit

    if args.next_item_k < 1:
        raise SystemExit(f"--next-item-k must be at least 1, got {args.next_item_k}")
    start = time.monotonic()
    s = Setup(args.dataset, args.target, args.target_dir, args.target_epochs, args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    s.recommender.save(args.out / "target")
    examples = s.builder(s.train_users, args.mode, args.seed, args.next_item_k).examples(args.n_train, args.mix)
    llm = LocalLLM.from_spec(args.base)
    model, tok = llm.model, llm.tokenizer
    model.train()
    apply_lora(model, list(LLAMA_PROJECTIONS), r=args.rank, alpha=2 * args.rank, dropout=0.05)
    slots = None
    if args.mode != "behaviour":
        torch.manual_seed(args.seed)
        slots = SlotEmbedding.install(model, Projector(s.target.dim, model.cfg.dim))
    task = build_task(examples, tok, model.cfg.vocab_size, slots, s.target.dim)
    cfg = TrainConfig(lr=args.lr, epochs=args.epochs, batch_size=args.batch_size, warmup_steps=10, seed=args.seed,
                      log_every=10)
    result = fit(model, task, cfg, out_dir=args.out / "checkpoints")
    adapter = save_adapter(model, args.out / "adapter", base_model_name_or_path=args.base, dtype=torch.float16)
    if slots is not None:
        save_slots(slots, adapter, {"target": args.target, "target_dim": s.target.dim})
    report = {"base": args.base, "mode": args.mode, "target": args.target, "dataset": args.dataset,
              "n_train": len(task.examples), "mix": args.mix, "next_item_k": args.next_item_k,
              "config": cfg.to_dict(), "first_loss": result.losses[0],
              "final_loss": result.losses[-1], "seconds": round(time.monotonic() - start, 1)}
    (args.out / "report.json").write_text(json.dumps(report, indent=1))
    print(args.out)
    return 0


def cmd_eval_explainer(args) -> int:
    import torch

    from recai.explain.evaluate import eval_examples, generate_replies, random_order_ndcg5, score_fidelity
    from recai.explain.projector import Projector, SlotEmbedding
    from recai.llm import LocalLLM
    from recai.text.fuzzy import TitleMatcher

    if args.untrained == (args.explainer is not None):
        raise SystemExit("recai: give either --explainer DIR or --untrained --mode MODE")
    if args.beam < 1:
        raise SystemExit(f"recai: --beam must be >= 1, got {args.beam}")
    if args.beam > 1 and not args.constrained:
        raise SystemExit("recai: --beam searches under the catalog constraint; add --constrained")
    if args.explanations < 1:
        raise SystemExit(f"recai: --explanations must be >= 1, got {args.explanations}")
    if args.api_base and not (args.judge or "").startswith("openai:"):
        raise SystemExit("recai: --api-base is for an openai:MODEL judge (--judge openai:MODEL)")
    if args.untrained:
        if args.mode is None:
            raise SystemExit("recai: --untrained needs --mode (behaviour, intention or hybrid)")
        mode, base = args.mode, args.base
        llm = LocalLLM.from_spec(base)
        model, tok, slots = llm.model.eval(), llm.tokenizer, None
        s = Setup(args.dataset, args.target, args.target_dir, args.target_epochs, args.seed)
    else:
        model, tok, slots, report, s = load_explainer(args.explainer, args.dataset, args.seed)
        mode, base, llm = report["mode"], report["base"], None
    if args.untrained and mode != "behaviour":
        torch.manual_seed(args.seed)
        slots = SlotEmbedding.install(model, Projector(s.target.dim, model.cfg.dim))
    tasks = tuple(t.strip() for t in args.tasks.split(",") if t.strip())
    builder = s.builder(s.eval_users, mode, args.seed + 1)
    try:
        examples = eval_examples(builder, s.eval_users[:args.users], tasks)
    except ValueError as e:
        raise SystemExit(f"recai: --tasks: {e}")
    trie = None
    if args.constrained:
        from recai.text.title_trie import TitleTrie

        trie = TitleTrie(builder.titles, tok)
    t0 = time.monotonic()
    replies = generate_replies(model, tok, examples, slots, s.target.dim, trie=trie, beam=args.beam)
    scores = score_fidelity(examples, replies, TitleMatcher(s.data.catalog.display_titles()), s.target)
    scores.seconds = round(time.monotonic() - t0, 1)
    name = f"{mode} ({'untrained' if args.untrained else args.explainer})"
    if trie:
        name += " constrained" + (f", beam {args.beam}" if args.beam > 1 else "")
    cells = {"next_item": f"{scores.hit1:.3f} | {scores.hit10:.3f}", "ranking": f"{scores.ranking_ndcg5:.3f}",
             "classify": f"{scores.classify_accuracy:.1%}", "history": f"{scores.history_recall:.3f}"}
    blank = {"next_item": "- | -"}
    print("| explainer | users | Hit@1 | Hit@10 | ranking NDCG@5 | classify acc | history recall | s |")
    print("|---|---|---|---|---|---|---|---|")
    print(f"| {name} | {len(s.eval_users[:args.users])} | "
          + " | ".join(cells[t] if t in tasks else blank.get(t, "-") for t in TASKS) + f" | {scores.seconds:.0f} |")
    if "ranking" in tasks:
        print(f"\nchance levels: ranking NDCG@5 {random_order_ndcg5():.3f} for a random order of the 10 candidates; "
              "classification 50% (half the questions are positives)")
    judged = None
    if args.judge:
        from recai.llm import load_llm

        # The untrained surrogate is the base model itself (slots change only ids past the vocabulary,
        # which text prompts never hold), and a judge named like the base is that same model.
        reference = llm or LocalLLM.from_spec(base)
        judge = reference if args.judge == base else load_llm(args.judge, api_base=args.api_base)
        judged = {"judge": args.judge, **judge_explanations_of(
            model, tok, slots, (reference.model.eval(), reference.tokenizer), s, mode,
            s.eval_users[:args.explanations], judge, args.seed)}
        t = judged["tally"]
        means = ", ".join(f"{c} {t[c + '_mean']:.2f}" for c in ("informativeness", "persuasiveness", "helpfulness")
                          if c + "_mean" in t)
        print(f"\nexplanations judged by {args.judge} against the base model's ({t['judged']} judged, "
              f"{t['failures']} unreadable verdicts): win {t['win_rate']:.2f}, loss {t['loss_rate']:.2f}, "
              f"tie {t['tie_rate']:.2f}" + (f"; the explainer's mean scores: {means}" if means else "")
              + (f"; the judge named the first-shown side in {t['first_shown_rate']:.0%} of its verdicts"
                 if "first_shown_rate" in t else ""))
    if args.json:
        args.json.write_text(json.dumps({"name": name, "tasks": list(tasks), **scores.to_dict(), "examples": [
            {"task": e.task, "prompt": e.prompt, "expected": e.response, "reply": r}
            for e, r in zip(examples, replies)], **({"explanations": judged} if judged else {})}, indent=1))
    return 0


def check_projector(slots, target, where) -> None:
    """A projector trained on one target's vectors cannot read another's of a different size."""
    if slots.projector.in_dim != target.dim:
        raise SystemExit(f"recai: {where}: the projector reads {slots.projector.in_dim}-dimensional vectors but the "
                         f"target model's are {target.dim}-dimensional; use the target it was trained with")


def judge_explanations_of(model, tok, slots, reference, s: Setup, mode: str, users, judge, seed: int = 0) -> dict:
    """The evaluator's pairwise explanation judge over `users` (held-out (user, history) pairs): the
    explainer's explanation of the target's top unseen item against the `reference` (model, tokenizer)'s,
    the reference asked the same question in behaviour form (text only: it has no projector to read
    vectors). `judge`: any `recai.llm` backend."""
    # The evaluator's own judge, so scores read the same as `recai eval explanation`'s.
    from recai.eval.judges import judge_explanations
    from recai.explain.evaluate import explanation_questions, generate_replies

    questions = explanation_questions(s.builder(users, mode, seed), users)
    mine = generate_replies(model, tok, questions, slots, s.target.dim)
    theirs = generate_replies(*reference, explanation_questions(s.builder(users, "behaviour", seed), users))
    titles = s.data.catalog.display_titles()
    rows = [(", ".join(titles[i] for i in history[-10:]), titles[q.items[0]], a, b)
            for (_, history), q, a, b in zip(users, questions, mine, theirs)]
    _note(f"judging {len(rows)} explanation pairs")
    tally = judge_explanations(judge, rows)
    return {"tally": tally.to_dict(), "pairs": [
        {"user": s.split.train.user_ids[u], "item": item, "explainer": a, "base": b}
        for (u, _), (_, item, a, b) in zip(users, rows)]}


def cmd_explain(args) -> int:
    from recai.explain.evaluate import generate_replies
    from recai.text.fuzzy import TitleMatcher

    model, tok, slots, report, s = load_explainer(args.explainer, args.dataset)
    users = s.split.train.user_ids
    if args.user not in users:
        raise SystemExit(f"recai: user {args.user!r} is not in {args.dataset}'s training data")
    user = users.index(args.user)
    history = [int(i) for i in s.split.train.sequences()[user]]
    catalog = s.data.catalog
    item = catalog.get_index(args.item)
    if item is None:
        match = TitleMatcher(catalog.display_titles()).match(args.item)
        if match is None:
            raise SystemExit(f"recai: no item with id or title like {args.item!r} in {args.dataset}")
        item = match.index
    builder = s.builder([(user, history)], report["mode"], 0)
    example = builder.explain(user, history, item)
    (reply,) = generate_replies(model, tok, [example], slots, s.target.dim, args.max_new_tokens, progress=False)
    print(reply)
    if args.facts:
        print(f"\nthe recommender's numbers: {builder.explanation(user, history, item)}")
    return 0


def _note(text: str) -> None:
    print(f"recai: {text}", file=sys.stderr, flush=True)
