"""`recai eval knowledge`: the Knowledge Plugin's ablation from the command line."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from recai.knowledge.evaluate import CONFIGS

DEFAULT_MODEL = "smollm2-135m-instruct"


def add_knowledge_eval_parser(eval_sub) -> None:
    p = eval_sub.add_parser(
        "knowledge", help="Knowledge Plugin (DOKE): ranking with none / attributes / item CF / user CF / KG knowledge",
        description="For held-out users (leave-one-out targets), ask an LLM to rank a candidate list (the target "
                    "plus sampled negatives) with different knowledge in the prompt, chosen within a token budget: "
                    "item attributes, item-to-item co-occurrence, a teacher recommender's predictions (SASRec by "
                    "default), knowledge-graph paths between the history and the candidates. Prints one markdown "
                    "row per configuration: NDCG@1/5/10, Hit@1/5/10, prompt length, parse failures.",
        epilog="examples:\n"
               "  recai eval knowledge                              # SmolLM2-135M, ml-100k and its KG, 200 users\n"
               "  recai eval knowledge --dataset ml-latest-small --configs none,attributes,user_cf\n"
               "  recai eval knowledge --model openai:gpt-4o-mini --users 100\n"
               "  recai eval knowledge --model openai:local --api-base http://127.0.0.1:8000/v1 --users 20",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=DEFAULT_MODEL, help=f"LLM SPEC, local or openai:MODEL (default {DEFAULT_MODEL})")
    p.add_argument("--api-base", help="for openai:MODEL: the server's /v1 URL")
    p.add_argument("--dataset", default="ml-100k", help="dataset (default ml-100k, read from recbole's copy)")
    p.add_argument("--kg", default="auto",
                   help="knowledge-graph folder with <name>.kg and <name>.link, 'auto' (beside the dataset's "
                        "files) or 'none'")
    p.add_argument("--configs", help=f"comma-separated, from {','.join(CONFIGS)} (default: all of them; "
                                     "without a KG, those that need none)")
    p.add_argument("--users", type=int, default=200, help="held-out users (default 200)")
    p.add_argument("--candidates", type=int, default=20, help="candidates per user, the target included (default 20)")
    p.add_argument("--sampling", choices=("random", "popularity"), default="random",
                   help="how negatives are drawn (default random)")
    p.add_argument("--budget", type=int, default=256, help="knowledge tokens per prompt (default 256)")
    p.add_argument("--chars-per-token", type=float, default=4.0,
                   help="token estimate for API models, whose tokenizer is not here (default 4)")
    p.add_argument("--history", type=int, default=10, help="history items shown (default the last 10)")
    p.add_argument("--item-sim", choices=("cooccurrence", "embedding"), default="cooccurrence",
                   help="item-to-item signal: co-occurrence counts or the teacher's item embeddings")
    p.add_argument("--teacher-dir", type=Path,
                   help="a saved recommender for user CF (recai train recsys ...); trained and saved here when absent")
    p.add_argument("--teacher-epochs", type=int, default=12, help="SASRec epochs when the teacher is trained")
    p.add_argument("--max-new-tokens", type=int, default=160, help="tokens per reply (default 160)")
    p.add_argument("--batch-size", type=int, default=8, help="prompts decoded together by a local model (default 8)")
    p.add_argument("--show-prompt", action="store_true", help="print the first user's prompt and reply per configuration")
    p.add_argument("--json", type=Path, help="also write the rows and the first users' prompts and replies here")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_eval_knowledge)


def _kg_paths(arg: str, data) -> tuple[Path, Path] | None:
    """(<name>.kg, <name>.link) in the folder `arg` names ('auto': the dataset's own), or None."""
    if arg == "none":
        return None
    folder = Path(data.source if arg == "auto" else arg)
    folder = folder.parent if folder.is_file() else folder
    stems = [data.name] + [p.stem for p in sorted(folder.glob("*.kg"))] if folder.is_dir() else []
    for stem in stems:
        kg, link = folder / f"{stem}.kg", folder / f"{stem}.link"
        if kg.is_file() and link.is_file():
            return kg, link
    if arg != "auto":
        raise SystemExit(f"recai: {folder}: no <name>.kg with a <name>.link beside it")
    return None


def _teacher(args, split):
    from recai.recsys import SASRec
    from recai.recsys.loading import load_or_train

    def train():
        _note(f"training the SASRec teacher ({args.teacher_epochs} epochs)")
        teacher = SASRec().fit(split.train, epochs=args.teacher_epochs, seed=args.seed)
        if args.teacher_dir is not None:
            teacher.save(args.teacher_dir)
        return teacher

    return load_or_train(args.teacher_dir, train)


def build_plugin(args, data, split, llm, kg_files):
    """The plugin with every extractor this dataset allows (KG paths only with `kg_files`)."""
    from recai.knowledge.attributes import AttributeFacts
    from recai.knowledge.collaborative import CoOccurrence, EmbeddingSimilarity, ItemCFFacts, UserCFFacts
    from recai.knowledge.facts import TokenCounter
    from recai.knowledge.graph import KGFacts, KnowledgeGraph
    from recai.knowledge.prompt import KnowledgePlugin

    teacher = _teacher(args, split)
    if args.item_sim == "embedding":
        if not hasattr(teacher, "net") or not hasattr(teacher.net, "item_emb"):
            raise SystemExit("recai: --item-sim embedding needs a SASRec teacher (its item embeddings)")
        similarity = EmbeddingSimilarity(teacher.net.item_emb.weight[1:].detach())
    else:
        similarity = CoOccurrence(split.train)
    graph = KnowledgeGraph.load_recbole(*kg_files, data.catalog) if kg_files else None
    if graph is not None:
        _note(f"knowledge graph {kg_files[0]}: {graph.n_triples} triples, {graph.n_entities} entities, "
              f"{graph.linked_items()} of {len(data.catalog)} items linked")
    counter = TokenCounter(getattr(llm, "tokenizer", None), args.chars_per_token)
    return KnowledgePlugin(data.catalog, attributes=AttributeFacts(data.catalog),
                           item_cf=ItemCFFacts(data.catalog, similarity), user_cf=UserCFFacts(data.catalog, teacher),
                           kg=KGFacts(graph) if graph is not None else None, counter=counter, budget=args.budget,
                           history_len=args.history)


def _configs(arg: str | None, have_kg: bool, args) -> list[str]:
    if not arg:
        return [c for c in CONFIGS if have_kg or "kg" not in CONFIGS[c]]
    configs = [c.strip() for c in arg.split(",") if c.strip()]
    unknown = [c for c in configs if c not in CONFIGS]
    if unknown:
        raise SystemExit(f"recai: unknown --configs {unknown}; choose from {', '.join(CONFIGS)}")
    if not have_kg and any("kg" in CONFIGS[c] for c in configs):
        raise SystemExit(f"recai: {args.dataset} has no knowledge graph here (--kg {args.kg}); pass --kg DIR "
                         "or leave kg and all out of --configs")
    return configs


def cmd_eval_knowledge(args) -> int:
    from recai.data import load
    from recai.knowledge.evaluate import HEADER, rank_requests, run_ablation
    from recai.llm import load_llm

    start = time.monotonic()
    data = load(args.dataset)
    kg_files = _kg_paths(args.kg, data)
    configs = _configs(args.configs, kg_files is not None, args)
    split = data.split("leave-one-out")
    llm = load_llm(args.model, api_base=args.api_base)
    plugin = build_plugin(args, data, split, llm, kg_files)
    requests = rank_requests(split.test, len(data.catalog), args.users, args.candidates, args.sampling,
                             data.interactions.item_counts(), args.seed)
    _note(f"{len(requests)} users, {args.candidates} candidates each ({args.sampling} negatives), knowledge budget "
          f"{args.budget} tokens ({plugin.counter.describe()}), model {args.model}")
    print(HEADER, flush=True)
    rows, transcripts = run_ablation(llm, plugin, requests, configs, args.max_new_tokens, args.batch_size,
                                     on_row=lambda r: print(r.markdown(), flush=True))
    if args.show_prompt:
        for config, pairs in transcripts.items():
            prompt, reply = pairs[0]
            print(f"\n--- {config}: user {requests[0].user}, target {data.catalog.item(requests[0].target)['title']!r}",
                  file=sys.stderr)
            for m in prompt.messages:
                print(f"[{m['role']}]\n{m['content']}", file=sys.stderr)
            print(f"[reply]\n{reply}", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps({
            "model": args.model, "dataset": args.dataset, "users": len(requests), "candidates": args.candidates,
            "sampling": args.sampling, "budget": args.budget, "seconds": round(time.monotonic() - start, 1),
            "rows": [r.to_dict() for r in rows],
            "samples": {c: [{"messages": p.messages, "reply": r, "target": requests[n].target, "notes": p.notes}
                            for n, (p, r) in enumerate(pairs[:5])] for c, pairs in transcripts.items()}}, indent=1))
    return 0


def _note(text: str) -> None:
    print(f"recai: {text}", file=sys.stderr, flush=True)
