"""The agent against a simulated user with a hidden target, and against SASRec alone.

Each simulated user is a real ml-latest-small user: their history is known to the agent (the
ranker starts from it), their held-out last item is the hidden target. Over at most --turns turns
they name a movie they liked and then reveal the target's categories, decade and standing,
restating what they said before (`recai.eval.simulator`). A conversation succeeds at the first
turn whose five recommendations contain the target. The non-conversational baseline is SASRec's
top-10 from the history alone (the same trained model the agent ranks with).

    python bench/agent.py                         # 50 users, SmolLM2-135M answers, rule planner
    python bench/agent.py --llm none --users 200  # no language model: rules and templates, fast
    python bench/agent.py --planner llm --users 20
    python bench/agent.py --simulator llm --users 20  # the simulated user speaks through SmolLM2
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from recai.agent.agent import Agent  # noqa: E402
from recai.agent.domain import Domain  # noqa: E402
from recai.agent.requests import spoken_title  # noqa: E402
from recai.eval.simulator import make_user  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog="\n\n".join(__doc__.split("\n\n")[1:]),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--users", type=int, default=50, help="simulated users (default 50)")
    p.add_argument("--turns", type=int, default=5, help="most turns per conversation (default 5)")
    p.add_argument("--llm", default="smollm2-135m-instruct", help="local model SPEC for answers (and plans), or none")
    p.add_argument("--planner", choices=("rules", "llm"), default="rules")
    p.add_argument("--simulator", choices=("rules", "llm"), default="rules",
                   help="rules (default): template messages; llm: a model rewrites each message in its own words "
                        "(what is revealed stays rule-based)")
    p.add_argument("--simulator-llm", default="smollm2-135m-instruct",
                   help="local model SPEC (or openai:MODEL with OPENAI_BASE_URL) voicing the llm simulator")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    from recai.data import load

    data = load("ml-latest-small")
    domain = Domain.build(data, progress=True)
    test = data.split("leave-one-out").test
    rng = random.Random(args.seed)
    rows = rng.sample(range(len(test)), min(args.users, len(test)))
    llm = planner = None
    if args.llm != "none":
        from recai.llm import LocalLLM

        llm = LocalLLM.from_spec(args.llm)
        if args.planner == "llm":
            from recai.agent.llm_planner import LLMPlanner

            planner = LLMPlanner(domain, llm)
    elif args.planner == "llm":
        raise SystemExit("--planner llm needs --llm")

    voice = None
    if args.simulator == "llm":
        from recai.eval.simulator import LLMVoice
        from recai.llm import load_llm

        voice = LLMVoice(llm if llm is not None and args.simulator_llm == args.llm else load_llm(args.simulator_llm))
    base5 = base10 = 0
    successes, turn_times, first_turns = 0, [], []
    for n, row in enumerate(rows):
        history = [int(i) for i in test.history[row]]
        target = int(test.targets[row][0])
        scores = domain.ranker.score(histories=[history])[0]
        scores[history] = float("-inf")
        top = torch.topk(scores, 10).indices.tolist()
        base5 += target in top[:5]
        base10 += target in top
        user = make_user(domain.catalog, history, target, domain.popularity, rng)
        agent = Agent(domain, llm=llm, planner=planner, history=history)
        liked_title = spoken_title(domain.catalog.titles[user.liked])
        for turn in range(args.turns):
            message = user.message(turn, liked_title)
            if voice is not None:
                message = voice.say(message, must_keep=liked_title)
            t0 = time.monotonic()
            result = agent.turn(message)
            turn_times.append(time.monotonic() - t0)
            if target in result.items:
                successes += 1
                first_turns.append(turn + 1)
                break
        print(f"\r{n + 1}/{len(rows)} users  agent success {successes / (n + 1):.2f}  "
              f"SASRec hit@10 {base10 / (n + 1):.2f}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    N = len(rows)
    brain = "none (templates)" if llm is None else args.llm
    print(f"{N} simulated ml-latest-small users, hidden target = held-out last item, at most {args.turns} turns, "
          f"5 items per turn; planner: {args.planner}; answers: {brain}; simulator: {args.simulator}"
          + (f" ({args.simulator_llm})" if voice is not None else ""))
    print("| recommender | success | avg turns to success | median s/turn |")
    print("|---|---|---|---|")
    print(f"| agent | {successes / N:.1%} | {statistics.mean(first_turns) if first_turns else float('nan'):.2f} | "
          f"{statistics.median(turn_times):.2f} |")
    print(f"| SASRec top-5 from history | {base5 / N:.1%} | 1 | |")
    print(f"| SASRec top-10 from history | {base10 / N:.1%} | 1 | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
