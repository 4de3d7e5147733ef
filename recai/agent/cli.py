"""`recai demo`, `recai chat` and `recai serve`: the agent and the local model from the command line."""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

DEMO_SCRIPT = [
    "Hi! I loved The Matrix and Inception. Can you recommend something similar?",
    "I'd rather avoid horror though. Anything from the 2000s?",
    "Which of Interstellar, Gravity or Moon should I watch tonight?",
    "What year was Blade Runner released?",
    "Thanks! Any popular comedies for the weekend?",
]
DEFAULT_LLM = "smollm2-135m-instruct"


def add_agent_parsers(sub) -> None:
    p = sub.add_parser(
        "demo", help="run the conversational recommender on a scripted conversation",
        description="The main job, end to end: load the dataset (default: the shipped ml-latest-small), train or "
                    "load SASRec and the item index (cached in $RECAI_HOME), fetch the LLM and the embedder, "
                    "then run a scripted conversation, printing each turn's plan, tool trace and reply.",
        epilog="examples:\n  recai demo\n  recai demo --llm none            # no language model: rule planner, "
               "template answers\n  recai demo --llm openai:gpt-4o-mini --api-base https://api.openai.com/v1",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    _agent_options(p)
    p.add_argument("--say", action="append", default=None, metavar="MESSAGE",
                   help="a user message (repeatable) instead of the built-in script")
    p.add_argument("--json", action="store_true", help="print each turn as one JSON line instead of text")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser(
        "chat", help="talk to the conversational recommender",
        description="The agent in an interactive loop with streamed replies. Type a message; empty line or "
                    "Ctrl-D quits; /profile shows what the agent knows about you, /reset forgets it.",
        epilog="examples:\n  recai chat\n  recai chat --llm none --dataset ml-100k\n"
               "  recai chat --llm openai:llama3 --api-base http://localhost:11434/v1",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    _agent_options(p)
    p.add_argument("--user", help="a user id of the dataset whose history the ranker starts from")
    p.set_defaults(func=cmd_chat)

    p = sub.add_parser(
        "serve", help="serve the local model (OpenAI-compatible API) and optionally the agent",
        description="An HTTP server: OpenAI-compatible /v1/chat/completions (with streaming) and /v1/models for "
                    "the local model, and with --agent a POST /v1/agent endpoint ({\"message\", \"session\"}). "
                    "Standard library only; every input is bounded.",
        epilog="examples:\n  recai serve --port 8000\n  recai serve --agent --api-key-env RECAI_KEY\n"
               "  curl -s localhost:8000/v1/chat/completions -d '{\"messages\": [{\"role\": \"user\", "
               "\"content\": \"hi\"}]}'",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=DEFAULT_LLM, help=f"local model SPEC to serve (default {DEFAULT_LLM})")
    p.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1; 0.0.0.0 for all)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    p.add_argument("--max-tokens", type=int, default=512, help="most tokens per reply (default 512)")
    p.add_argument("--time-limit", type=float, default=60.0, help="seconds one reply may run (default 60)")
    p.add_argument("--max-body", type=int, default=256 * 1024, help="largest request body in bytes (default 256 KiB)")
    p.add_argument("--api-key-env", metavar="VAR", help="require `Authorization: Bearer $VAR` on every request")
    p.add_argument("--agent", action="store_true", help="also serve the agent at /v1/agent (sessions by id)")
    p.add_argument("--dataset", default="ml-latest-small", help="the agent's dataset (default ml-latest-small)")
    p.add_argument("--planner", choices=("auto", "llm", "rules"), default="auto", help="the agent's planner")
    p.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32")
    p.set_defaults(func=cmd_serve)


def _agent_options(p) -> None:
    p.add_argument("--dataset", default="ml-latest-small",
                   help="any dataset `recai data info` reads (default: the shipped ml-latest-small)")
    p.add_argument("--llm", default=DEFAULT_LLM,
                   help=f"the brain: a local model SPEC (default {DEFAULT_LLM}), openai:MODEL, or none")
    p.add_argument("--api-base", help="for openai:MODEL: the server's base URL up to /v1 (key from OPENAI_API_KEY)")
    p.add_argument("--planner", choices=("auto", "llm", "tuned", "rules"), default="auto",
                   help="llm: the model plans (demos + grammar); tuned: a LoRA planner adapter (--planner-adapter) "
                        "plans, the model answers; rules: the rule planner plans and the model only answers; "
                        "auto (default): llm for remote models, rules for local and --llm none")
    p.add_argument("--planner-adapter", metavar="DIR",
                   help="for --planner tuned: the adapter from `recai train planner` (default: the one shipped "
                        "for smollm2-135m-instruct)")
    p.add_argument("--reflect", type=int, default=0, metavar="N", help="critic rounds on each LLM plan (default 0)")
    p.add_argument("--embedder", default="minilm-l6", help="embedding model for the item index (default minilm-l6)")
    p.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32", help="local model dtype")
    p.add_argument("--memory-summary", choices=("extractive", "llm", "none"), default="extractive",
                   help="how exchanges leaving the dialogue window are kept: the user's requests (default), "
                        "a sentence from the model, or not at all")
    p.add_argument("--ranker-epochs", type=int, default=12,
                   help="most SASRec epochs when the ranker is trained (first run only; default 12)")


def agent_factory(args):
    """Load the domain, LLM and planner from the CLI options once; returns `new(history=()) -> Agent`,
    so a fresh conversation (`/reset`) does not load anything again."""
    from recai.agent.agent import Agent
    from recai.agent.domain import Domain
    from recai.agent.llm_planner import LLMPlanner
    from recai.llm import load_llm

    domain = Domain.build(args.dataset, embedder=args.embedder, ranker_epochs=args.ranker_epochs, progress=True)
    llm = None
    if args.llm != "none":
        _note(f"loading the language model {args.llm}")
        llm = load_llm(args.llm, api_base=args.api_base, dtype=args.dtype)
    planner_kind = args.planner
    if planner_kind == "auto":
        planner_kind = "llm" if llm is not None and args.llm.startswith("openai:") else "rules"
    if planner_kind == "llm" and llm is None:
        raise ValueError("--planner llm needs a language model; drop --llm none or use --planner rules")
    planner = None
    if planner_kind == "llm":
        planner = LLMPlanner(domain, llm, reflections=args.reflect)
    elif planner_kind == "tuned":
        planner = tuned_planner(domain, args)

    if args.memory_summary == "llm" and llm is None:
        raise ValueError("--memory-summary llm needs a language model; drop --llm none")

    def new(history=()):
        return Agent(domain, llm=llm, planner=planner, history=history, memory_summary=args.memory_summary)

    new.domain = domain
    return new


def tuned_planner(domain, args):
    """The LLM planner over the base model with a planner adapter merged in (a second copy of the
    model: the untouched one keeps writing the answers)."""
    from recai.agent.llm_planner import LLMPlanner
    from recai.agent.tool_learning import SHIPPED_ADAPTER, SHIPPED_BASE, TUNED_SYSTEM, load_planner_llm

    if args.llm == "none" or args.llm.startswith("openai:"):
        raise ValueError("--planner tuned needs a local --llm (the adapter's base model)")
    adapter = args.planner_adapter
    if adapter is None:
        if args.llm != SHIPPED_BASE:
            raise ValueError(f"the shipped planner adapter is for {SHIPPED_BASE}; give --planner-adapter DIR "
                             f"for {args.llm}")
        adapter = SHIPPED_ADAPTER
    _note(f"loading the planner adapter {adapter}")
    return LLMPlanner(domain, load_planner_llm(args.llm, adapter, dtype=args.dtype), n_demos=0, system=TUNED_SYSTEM,
                      reflections=args.reflect)


def cmd_demo(args) -> int:
    start = time.monotonic()
    agent = agent_factory(args)()
    _note(f"ready in {time.monotonic() - start:.0f} s; planner: {agent.planner.name}, "
          f"answers: {agent.llm.name if agent.llm else 'templates'}")
    for n, message in enumerate(args.say or DEMO_SCRIPT, 1):
        turn = agent.turn(message)
        if args.json:
            print(json.dumps({"turn": n, "message": message, **turn.to_dict()}, ensure_ascii=False), flush=True)
            continue
        print(f"\n=== turn {n} ({turn.seconds:.1f} s) ===\nuser: {message}")
        print("plan: " + json.dumps([s.to_dict() for s in turn.plan], ensure_ascii=False))
        for t in turn.trace:
            lines = t.observation.splitlines() or [""]
            print(f"  [{t.tool}] {t.input[:80]}\n      -> " + "\n         ".join(lines[:6]))
        for note in turn.notes:
            print(f"  note: {note}")
        print(f"agent: {turn.reply}", flush=True)
    _note(f"demo finished in {time.monotonic() - start:.0f} s")
    return 0


def cmd_chat(args) -> int:
    new_agent = agent_factory(args)
    history = ()
    if args.user is not None:
        inter = new_agent.domain.interactions
        if args.user not in inter.user_ids:
            raise ValueError(f"user {args.user!r} is not in {new_agent.domain.name}")
        history = inter.sequence(inter.user_ids.index(args.user)).tolist()
    agent = new_agent(history)
    titles = agent.domain.catalog.titles
    print("Ask for movies (empty line or Ctrl-D to quit; /profile, /reset).", file=sys.stderr)
    while True:
        try:
            message = input("you> ")
        except EOFError:
            return 0
        if not message.strip():
            return 0
        if message.strip() == "/profile":
            print(agent.profile.to_text(titles))
            continue
        if message.strip() == "/reset":
            agent = new_agent(history)
            continue
        print("agent> ", end="", flush=True)
        turn = agent.turn(message, on_text=lambda piece: print(piece, end="", flush=True))
        print(flush=True)
        print("  plan: " + ", ".join(f"{s.tool}({s.input[:50]})" for s in turn.plan)
              + "".join(f"\n  note: {n}" for n in turn.notes), file=sys.stderr)


def cmd_serve(args) -> int:
    from recai.llm import LocalLLM
    from recai.serve import ServeLimits, start_server

    key = None
    if args.api_key_env:
        key = os.environ.get(args.api_key_env)
        if not key:
            raise ValueError(f"--api-key-env {args.api_key_env}: that environment variable is empty")
    llm = LocalLLM.from_spec(args.model, dtype=args.dtype, time_limit_s=args.time_limit)
    factory = None
    if args.agent:
        from recai.agent.agent import Agent
        from recai.agent.domain import Domain
        from recai.agent.llm_planner import LLMPlanner

        domain = Domain.build(args.dataset, progress=True)
        use_llm_planner = args.planner == "llm"
        factory = lambda: Agent(domain, llm=llm, planner=LLMPlanner(domain, llm) if use_llm_planner else None)  # noqa: E731
    limits = ServeLimits(max_body_bytes=args.max_body, max_tokens=args.max_tokens)
    server = start_server(llm, args.host, args.port, limits, factory, key)
    _note(f"serving {llm.name} at {server.url}" + (" (agent at /v1/agent)" if args.agent else "") + "; Ctrl-C stops")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def _note(text: str) -> None:
    print(f"recai: {text}", file=sys.stderr, flush=True)
