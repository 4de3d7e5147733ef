"""The `recai` command. Each subcommand is a small function; heavy imports happen inside them."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from recai.errors import RecaiError
from recai.agent.cli import add_agent_parsers
from recai.emb.cli_embed import add_embed_parser
from recai.explain.cli import add_explain_parser

DTYPES = ("float32", "bfloat16", "float16")


def _add_generate(sub) -> None:
    p = sub.add_parser(
        "generate", help="generate text with a local Llama-family model",
        description="Generate a continuation (--prompt) or a chat reply (--chat) and print only the generated "
                    "text to stdout. Greedy when --temperature is 0 (the default).",
        epilog="examples:\n  recai generate --model smollm2-135m-instruct --chat 'Suggest a movie for tonight'\n"
               "  recai generate --model path/to/stories260K.bin --prompt 'Once upon a time'",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True,
                   help="HF directory, .gguf file, llama2.c .bin, registered name (see `recai fetch --list`) "
                        "or hf:ORG/NAME")
    p.add_argument("--tokenizer", help="tokenizer file or directory (default: found beside or inside the model)")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--prompt", help="raw text to continue (BOS is added if the tokenizer asks for it)")
    what.add_argument("--chat", help="a user message, wrapped in the model's chat template")
    p.add_argument("--system", help="system message for --chat")
    p.add_argument("--max-new-tokens", type=int, default=256, help="upper bound on generated tokens (default 256)")
    p.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default); >0 samples")
    p.add_argument("--top-p", type=float, default=1.0, help="nucleus sampling mass (default 1 = off)")
    p.add_argument("--top-k", type=int, default=0, help="sample among the k most likely tokens (default 0 = off)")
    p.add_argument("--repetition-penalty", type=float, default=1.0, help="CTRL-style penalty (default 1 = off)")
    p.add_argument("--stop", action="append", default=[], help="stop string (repeatable)")
    p.add_argument("--seed", type=int, default=None, help="random seed for sampling")
    p.add_argument("--dtype", choices=DTYPES, default="float32", help="compute dtype (default float32)")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    p.set_defaults(func=cmd_generate)


def _add_fetch(sub) -> None:
    p = sub.add_parser(
        "fetch", help="download a registered model into the cache",
        description="Obtain a registered model (or hf:ORG/NAME) once into $RECAI_HOME (default ~/.cache/recai), "
                    "verify its sha256 and print its path.")
    p.add_argument("name", nargs="?", help="registered name or hf:ORG/NAME[@REVISION]")
    p.add_argument("--list", action="store_true", help="list registered names")
    p.set_defaults(func=cmd_fetch)


def cmd_generate(args) -> int:
    import torch

    from recai.generation import GenerationConfig, stream
    from recai.hub import resolve
    from recai.nn.llama import Llama
    from recai.text.tokenizer import tokenizer_for_model

    if args.model.startswith("openai:"):
        raise RecaiError("openai: models are served remotely; `recai generate` runs local models only")
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    model_path = resolve(args.model)
    tokenizer = tokenizer_for_model(model_path, Path(args.tokenizer) if args.tokenizer else None)
    model = Llama.from_pretrained(model_path, dtype=getattr(torch, args.dtype), device=device)
    if args.chat is not None:
        messages = ([{"role": "system", "content": args.system}] if args.system else [])
        messages.append({"role": "user", "content": args.chat})
        ids = tokenizer.encode_chat(messages)
    else:
        ids = tokenizer.encode(args.prompt)
    if not ids:
        raise RecaiError("the prompt encodes to no tokens and the tokenizer adds no BOS; give a non-empty --prompt")
    cfg = GenerationConfig(max_new_tokens=args.max_new_tokens, temperature=args.temperature, top_k=args.top_k,
                           top_p=args.top_p, repetition_penalty=args.repetition_penalty, seed=args.seed,
                           stop_strings=tuple(args.stop))
    out = sys.stdout
    for piece in stream(model, ids, tokenizer, cfg):
        out.write(piece)
        out.flush()
    if out.isatty():
        out.write("\n")
    return 0


def cmd_fetch(args) -> int:
    from recai.hub import fetch, registered

    if args.list or not args.name:
        print("\n".join(registered()))
        return 0
    print(fetch(args.name))
    return 0


def _add_data(sub) -> None:
    from recai.data.cli_download import add_download_parser
    from recai.data.cli_info import add_convert_parser, add_info_parser

    p = sub.add_parser(
        "data", help="inspect, convert and download datasets",
        description="Datasets: the shipped ml-latest-small, ML-100K (from an installed recbole), downloaded "
                    "public datasets, or your own files (MovieLens, RecBole atomic, RecAI, Last.fm, CSV/JSONL).")
    data_sub = p.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    add_info_parser(data_sub)
    add_convert_parser(data_sub)
    add_download_parser(data_sub)


def _add_train(sub) -> None:
    from recai.agent.tool_learning import add_planner_train_parser
    from recai.emb.cli_train import add_emb_train_parser
    from recai.explain.cli import add_explainer_train_parser
    from recai.gen.cli import add_gen_train_parsers
    from recai.recsys.cli_train import add_recsys_parsers

    p = sub.add_parser(
        "train", help="train a classic recommender or fine-tune an embedding model",
        description="Train a classic recommender (sasrec, mf, itemcf, pop) with validation and early stopping,\n"
                    "fine-tune an embedding model on RecLM-emb's matching tasks (emb), LoRA-tune a small\n"
                    "model to write the agent's plans (planner), or tune a generative recommender with SFT and\n"
                    "PPO (gen-sft, gen-ppo).",
        epilog="examples:\n"
               "  recai train sasrec --dataset ml-100k\n"
               "  recai train emb --dataset ml-latest-small --base minilm-l6\n"
               "  recai train sasrec --help",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    what = p.add_subparsers(dest="what", required=True, metavar="WHAT")
    add_recsys_parsers(what)
    add_emb_train_parser(what)
    add_planner_train_parser(what)
    add_gen_train_parsers(what)
    add_explainer_train_parser(what)


def _add_eval(sub) -> None:
    from recai.emb.cli_train import add_emb_eval_parser
    from recai.eval.cli import add_evaluator_parsers
    from recai.explain.cli import add_explainer_eval_parser
    from recai.gen.cli import add_gen_eval_parser
    from recai.knowledge.cli import add_knowledge_eval_parser

    p = sub.add_parser("eval", help="evaluate a model on a benchmark task",
                       description="Evaluate models: `emb` measures an embedder on RecLM-emb's ten matching tasks; "
                                   "`gen` a generative recommender (RecLM-gen); `knowledge` an LLM ranker with and "
                                   "without injected domain knowledge (Knowledge Plugin); `explainer` an explainer's fidelity to its "
                                   "recommender (RecExplainer). The evaluator's tasks (RecLM-eval) — retrieval, ranking, "
                                   "cf_ranking_mc, seq_ranking_mc, embedding_retrieval, embedding_ranking, explanation, "
                                   "conversation, chitchat, or all — score any local or API model.")
    task = p.add_subparsers(dest="task", required=True, metavar="TASK")
    add_emb_eval_parser(task)
    add_gen_eval_parser(task)
    add_knowledge_eval_parser(task)
    add_explainer_eval_parser(task)
    add_evaluator_parsers(task)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="recai", description="recai: recommender systems powered by language models, in one PyTorch library.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_generate(sub)
    _add_fetch(sub)
    _add_data(sub)
    _add_train(sub)
    _add_eval(sub)
    add_embed_parser(sub)
    add_agent_parsers(sub)
    add_explain_parser(sub)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (RecaiError, ValueError, FileNotFoundError) as e:
        print(f"recai {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `recai ... | head`: the reader left, which is not an error
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
