"""`recai eval <task>` and `recai eval all`: the evaluator (RecLM-eval) from the command line.

A run folder (`--out`) holds `tasks/<task>.jsonl` (the questions, built once and reused, so a
rerun asks the same ones), `answers/<task>.jsonl` (the resumable answer logs), `results.json` and
`results.md` (every task scored so far, merged), and the token / cost ledger inside results.json.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

LLM_TASKS = ("retrieval", "ranking", "cf_ranking_mc", "seq_ranking_mc", "explanation", "conversation", "chitchat")
EMBEDDING_TASKS = ("embedding_retrieval", "embedding_ranking")
ALL_TASKS = LLM_TASKS + EMBEDDING_TASKS
DEFAULT_MODEL = "smollm2-135m-instruct"
REFERENCE = {"explanation": "You might like {item} because it is similar to the movies you watched.",
             "chitchat": "It depends on personal taste."}


def add_evaluator_parsers(eval_sub) -> None:
    for task in ALL_TASKS + ("all",):
        p = eval_sub.add_parser(
            task, help=f"evaluator: {task.replace('_', ' ')}" if task != "all" else "evaluator: every task in turn",
            description=_DESCRIPTIONS.get(task, "Run every evaluator task in turn into one results table."),
            epilog=f"examples:\n  recai eval {task} --n 50\n  recai eval {task} --model openai:gpt-4o-mini "
                   "--price-prompt 0.15 --price-completion 0.6\n"
                   f"  recai eval {task} --model openai:local --api-base http://127.0.0.1:8000/v1",
            formatter_class=argparse.RawDescriptionHelpFormatter)
        p.add_argument("--model", default=DEFAULT_MODEL, help=f"LLM SPEC, local or openai:MODEL (default {DEFAULT_MODEL})")
        p.add_argument("--api-base", help="for openai:MODEL: the server's /v1 URL")
        p.add_argument("--embedder", default="minilm-l6", help="embedding tasks: the Embedder SPEC (default minilm-l6)")
        p.add_argument("--judge", help="explanation / chitchat judge SPEC (default: --model)")
        p.add_argument("--reference", help="a model SPEC whose answers the judged ones are compared with (default: a "
                                           "fixed template answer)")
        p.add_argument("--simulator", choices=("rules", "llm"), default="rules",
                       help="conversation: the simulated user's voice (default rules)")
        p.add_argument("--agent", action="store_true", help="conversation: evaluate recai's agent instead of --model (its streamed replies are not counted in the token ledger)")
        p.add_argument("--dataset", default="ml-latest-small")
        p.add_argument("--n", type=int, default=100, help="questions per task (default 100)")
        p.add_argument("--candidates", type=int, default=20, help="ranking candidates, the target included")
        p.add_argument("--max-turns", type=int, default=5, help="conversation turns (default 5)")
        p.add_argument("--max-new-tokens", type=int, default=160)
        p.add_argument("--batch-size", type=int, default=8)
        p.add_argument("--price-prompt", type=float, default=0.0, help="USD per million prompt tokens (API models)")
        p.add_argument("--price-completion", type=float, default=0.0, help="USD per million completion tokens")
        p.add_argument("--out", type=Path, help="run folder (default runs/eval/DATASET/MODEL)")
        p.add_argument("--seed", type=int, default=0)
        p.set_defaults(func=cmd_evaluate, task=task)


_DESCRIPTIONS = {
    "retrieval": "From a history, generate 10 titles; the target should be among them. NDCG@k and Hit@k (RecAI's "
                 "title similarity >= 0.6), history / duplicate errors and the copy error.",
    "ranking": "Rank the target among sampled candidates. NDCG@k, Hit@k, history / duplicate / out-of-candidate "
               "errors, copy error (LCS with the prompt's order).",
    "cf_ranking_mc": "Multiple choice A-J: which candidate belongs to a shuffled history? Accuracy@1 and none-ratio.",
    "seq_ranking_mc": "Multiple choice A-J: which candidate comes next? Accuracy@1 and none-ratio.",
    "embedding_retrieval": "An Embedder ranks the whole catalog from the history text (history excluded).",
    "embedding_ranking": "An Embedder ranks the ranking task's candidates from the history text.",
    "explanation": "Explain why a user would like the target; a pairwise judge scores informativeness, "
                   "persuasiveness, helpfulness (1-3) against a reference explanation and names a winner.",
    "conversation": "Chat with a simulated user who wants a hidden item (rule-based, or an LLM checked by the rules) "
                    "for at most --max-turns turns: recall and average turns.",
    "chitchat": "General questions; a pairwise judge asked in both orders, a win only when both agree.",
}


def _run_dir(args) -> Path:
    if args.out is not None:
        return args.out
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", args.model if args.task not in EMBEDDING_TASKS else args.embedder)
    return Path("runs") / "eval" / args.dataset / name


def cmd_evaluate(args) -> int:
    from recai.data import load
    from recai.eval.answers import Ledger, Prices
    from recai.eval.task_data import TaskBuilder

    out = _run_dir(args)
    data = load(args.dataset)
    builder = TaskBuilder(data, seed=args.seed)
    ledger = Ledger(prices=Prices(args.price_prompt, args.price_completion))
    tasks = ALL_TASKS if args.task == "all" else (args.task,)
    runner = Runner(args, data, builder, out, ledger)
    results = _read_results(out)
    for task in tasks:
        t0 = time.monotonic()
        scores = runner.run(task)
        scores["seconds"] = round(time.monotonic() - t0, 1)
        results["tasks"][task] = scores
        results["ledger"] = ledger.to_dict()  # this run's spend: answers reused from a log cost nothing now
        _write_results(out, results)
        _note(f"{task}: {json.dumps(scores)}")
    print(markdown(results))
    return 0


class Runner:
    """Loads what each task needs once (the model, the embedder, the judge) and runs tasks."""

    def __init__(self, args, data, builder, out: Path, ledger):
        self.args, self.data, self.builder, self.out, self.ledger = args, data, builder, out, ledger
        self._llm = self._domain = None

    @property
    def llm(self):
        if self._llm is None:
            from recai.llm import load_llm

            self._llm = load_llm(self.args.model, api_base=self.args.api_base)
        return self._llm

    def _other(self, spec):
        from recai.llm import load_llm

        return self.llm if spec in (None, self.args.model) else load_llm(spec, api_base=self.args.api_base)

    def items(self, task: str):
        from recai.eval.task_data import read_items, write_items

        source = "ranking" if task == "embedding_ranking" else "retrieval" if task == "embedding_retrieval" else task
        path = self.out / "tasks" / f"{source}.jsonl"
        if path.is_file():
            return read_items(path)
        items = self.builder.items(source, self.args.n, self.args.candidates)
        write_items(items, path)
        return items

    def answers(self, task: str, items):
        from recai.eval.answers import AnswerLog, ask_all

        return ask_all(self.llm, items, AnswerLog(self.out / "answers" / f"{task}.jsonl"), self.ledger,
                       self.args.max_new_tokens, self.args.batch_size)

    def run(self, task: str) -> dict:
        from recai.eval.scoring import score_choices, score_lists
        from recai.eval.titles import TrigramTfidf

        items = self.items(task)
        if task in ("retrieval", "ranking"):
            return score_lists(items, self.answers(task, items), TrigramTfidf(self.data.catalog.display_titles()))
        if task in ("cf_ranking_mc", "seq_ranking_mc"):
            return score_choices(items, self.answers(task, items))
        if task in EMBEDDING_TASKS:
            from recai.emb import Embedder
            from recai.eval.embedding import embedding_scores

            return embedding_scores(Embedder.from_pretrained(self.args.embedder), self.data.catalog, items, task)
        if task in ("explanation", "chitchat"):
            return self._judged(task, items)
        return self._conversations(items)

    def _judged(self, task: str, items) -> dict:
        from recai.eval.answers import AnswerLog, MeteredLLM, ask_all
        from recai.eval.judges import judge_chitchat, judge_explanations

        mine = self.answers(task, items)
        if self.args.reference:
            theirs = ask_all(self._other(self.args.reference), items,
                             AnswerLog(self.out / "answers" / f"{task}.reference.jsonl"), self.ledger,
                             self.args.max_new_tokens, self.args.batch_size)
        else:
            theirs = {it.id: REFERENCE[task].format(item=it.target) for it in items}
        judge = MeteredLLM(self._other(self.args.judge), self.ledger)
        if task == "explanation":
            rows = [(", ".join(it.history[-10:]), it.target, mine.get(it.id, ""), theirs.get(it.id, "")) for it in items]
            return {"items": len(items), **judge_explanations(judge, rows).to_dict()}
        rows = [(it.prompt, mine.get(it.id, ""), theirs.get(it.id, "")) for it in items]
        return {"items": len(items), **judge_chitchat(judge, rows).to_dict()}

    def _conversations(self, items) -> dict:
        """One simulated conversation per record, each logged as it ends (a rerun skips finished ones)."""
        from recai.eval.answers import AnswerLog, MeteredLLM
        from recai.eval.conversation import ChatRecommender, LLMUser, converse, rule_user
        from recai.eval.task_data import title_index
        from recai.eval.titles import TrigramTfidf

        catalog = self.data.catalog
        titles = catalog.display_titles()
        index_of = title_index(titles)
        popularity = self.data.interactions.item_counts()
        tfidf = TrigramTfidf(titles)
        llm = MeteredLLM(self.llm, self.ledger)  # the recommender's and the LLM user's calls are spend too
        voice = LLMUser(llm) if self.args.simulator == "llm" else None
        log = AnswerLog(self.out / "answers" / "conversation.jsonl")
        for n, it in enumerate(items):
            if it.id in log.done:
                continue
            history = [index_of[h] for h in it.history if h in index_of]
            target = index_of.get(it.target)
            record = {"id": it.id, "task": "conversation", "answer": "", "success": False,
                      "turns": self.args.max_turns}
            if target is None or not history:
                record["error"] = "target or history not in the catalog"
            else:
                user = rule_user(catalog, history, target, popularity, seed=self.args.seed + n)
                # The agent streams its replies; those calls are not metered (--agent's help says so).
                recommender = self._agent(history) if self.args.agent else ChatRecommender(
                    llm, self.args.max_new_tokens)
                c = converse(recommender, user, it.target, tfidf, ", ".join(it.history[-10:]), voice,
                             self.args.max_turns, liked_title=titles[user.liked])
                record.update(answer=c.transcript[-1]["content"], success=c.success, turns=c.turns,
                              regenerations=c.regenerations, fallbacks=c.fallbacks, transcript=c.transcript)
            log.add([record])
            print(f"\rconversations {n + 1}/{len(items)}", end="", file=sys.stderr, flush=True)
        print(file=sys.stderr)
        done = [log.done[it.id] for it in items if it.id in log.done]
        k = max(len(done), 1)
        return {"conversations": len(done), "recall": sum(bool(r.get("success")) for r in done) / k,
                "avg_turns": sum(r.get("turns", self.args.max_turns) for r in done) / k,
                "regenerations": sum(r.get("regenerations", 0) for r in done),
                "fallbacks": sum(r.get("fallbacks", 0) for r in done)}

    def _agent(self, history):
        from recai.agent.agent import Agent
        from recai.agent.domain import Domain

        if self._domain is None:
            self._domain = Domain.build(self.data, progress=True)
        agent = Agent(self._domain, llm=self.llm, history=history)

        class AgentRecommender:
            def reply(self, messages):
                return agent.turn(messages[-1]["content"]).reply

        return AgentRecommender()


def _read_results(out: Path) -> dict:
    path = out / "results.json"
    if path.is_file():
        try:
            data = json.loads(path.read_text())
            if isinstance(data, dict) and isinstance(data.get("tasks"), dict):
                return data
        except ValueError:
            pass
    return {"tasks": {}}


def _write_results(out: Path, results: dict) -> None:
    from recai.data.atomic import atomic_text

    out.mkdir(parents=True, exist_ok=True)
    with atomic_text(out / "results.json") as f:
        f.write(json.dumps(results, indent=1))
    with atomic_text(out / "results.md") as f:
        f.write(markdown(results) + "\n")


def markdown(results: dict) -> str:
    lines = ["| task | metric | value |", "|---|---|---|"]
    for task, scores in results["tasks"].items():
        for key, value in scores.items():
            if isinstance(value, float):
                lines.append(f"| {task} | {key} | {value:.4f} |")
            elif isinstance(value, int):
                lines.append(f"| {task} | {key} | {value} |")
    ledger = results.get("ledger")
    if ledger:
        lines.append(f"\nledger: {ledger['calls']} calls, {ledger['prompt_tokens']} prompt + "
                     f"{ledger['completion_tokens']} completion tokens, {ledger['errors']} errors, "
                     f"${ledger['cost_usd']:.4f}")
    return "\n".join(lines)


def _note(text: str) -> None:
    print(f"recai: {text}", file=sys.stderr, flush=True)
