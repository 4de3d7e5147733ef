"""Tool learning (RecAI's RecLlama, small): LoRA-SFT a small model to write plans, `recai train planner`.

Training pairs are [request -> gold plan] from the request templates over training items (the
held-out evaluation uses other items). The tuned model plans with a short system prompt and no
demonstrations, so its prompt is a tenth of the zero-shot planner's and it decodes under the same
grammar. The adapter is saved in PEFT's layout (a few MB), so `peft` can load it too.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from recai.agent.plan import plan_to_json
from recai.agent.requests import RequestGenerator, as_written

# The adapter shipped with the package, made by `recai train planner` with its defaults
# (see its report.json); `recai chat --planner tuned` uses it.
SHIPPED_BASE = "smollm2-135m-instruct"
SHIPPED_ADAPTER = Path(__file__).parent / "planner_adapter"
TUNED_SYSTEM = "Turn the movie request into a JSON plan of recommender tool calls."


def planner_rows(domain, n: int, seed: int = 0) -> list[dict]:
    """n SFT rows {"messages": [system, user request, assistant plan]} over training items; the plans
    name titles as the request wrote them (`as_written`)."""
    return [{"messages": [{"role": "system", "content": TUNED_SYSTEM},
                          {"role": "user", "content": ex.request},
                          {"role": "assistant", "content": plan_to_json(as_written(ex, domain).plan)}]}
            for ex in RequestGenerator(domain, "train", seed=seed).examples(n)]


def train_planner(base: str, domain, out_dir: Path, n_train: int = 3000, cfg=None, r: int = 8, alpha: float = 16,
                  progress: bool = True) -> Path:
    """LoRA-SFT `base` (a model SPEC) on n_train planner rows; returns the adapter folder (out_dir/adapter)."""
    import torch

    from recai.nn.lora import LLAMA_PROJECTIONS, apply_lora
    from recai.nn.lora_peft import save_adapter
    from recai.train import TrainConfig
    from recai.train.sft import train_sft

    from recai.llm import LocalLLM

    cfg = cfg or TrainConfig(lr=4e-4, epochs=1, batch_size=8, warmup_steps=20, seed=0, log_every=20)
    llm = LocalLLM.from_spec(base)
    model = llm.model.train()
    apply_lora(model, list(LLAMA_PROJECTIONS), r=r, alpha=alpha, dropout=0.05)
    rows = planner_rows(domain, n_train, seed=cfg.seed)
    held_out = planner_rows(domain, 64, seed=cfg.seed + 1000)
    out_dir = Path(out_dir)
    result = train_sft(model, llm.tokenizer, rows, cfg, eval_rows=held_out, max_length=256,
                       out_dir=out_dir / "checkpoints", progress=progress)
    # float16 factors: the r=8 adapter over all seven projections is 4.9 MB instead of 9.8 MB.
    adapter = save_adapter(model, out_dir / "adapter", base_model_name_or_path=base, dtype=torch.float16)
    report = {"base": base, "n_train": n_train, "config": cfg.to_dict(), "r": r, "alpha": alpha,
              "first_loss": result.losses[0] if result.losses else None,
              "final_loss": result.losses[-1] if result.losses else None, "evals": result.evals}
    (out_dir / "report.json").write_text(json.dumps(report, indent=1, default=str))
    return adapter


def load_planner_llm(base: str, adapter: str | Path, **kwargs):
    """The base model with a planner adapter merged in, as a LocalLLM."""
    from recai.llm import LocalLLM
    from recai.nn.lora_peft import merge_adapters

    llm = LocalLLM.from_spec(base, **kwargs)
    merge_adapters(llm.model, [adapter]).eval()
    llm.name = f"{llm.name}+{Path(adapter).name}"
    return llm


def add_planner_train_parser(train_sub) -> None:
    import argparse

    p = train_sub.add_parser(
        "planner", help="LoRA-tune a small model to write agent plans (tool learning)",
        description="Generate [request -> plan] pairs from the request templates over the training items of a "
                    "dataset, LoRA-SFT the model on them and save the adapter (PEFT layout). Evaluate it with "
                    "`python bench/planner.py --adapter OUT/adapter`.",
        epilog="examples:\n  recai train planner --out runs/planner\n"
               "  recai train planner --n-train 500 --out runs/planner-quick",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base", default="smollm2-135m-instruct", help="model SPEC to tune (default smollm2-135m-instruct)")
    p.add_argument("--dataset", default="ml-latest-small", help="dataset whose catalog the requests name")
    p.add_argument("--n-train", type=int, default=3000, help="training requests (default 3000)")
    p.add_argument("--epochs", type=float, default=1.0, help="passes over them (default 1)")
    p.add_argument("--lr", type=float, default=4e-4, help="learning rate (default 4e-4)")
    p.add_argument("--batch-size", type=int, default=8, help="requests per step (default 8)")
    p.add_argument("--rank", type=int, default=8, help="LoRA rank (default 8)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("runs/planner"), help="output folder (default runs/planner)")
    p.set_defaults(func=cmd_train_planner)


def cmd_train_planner(args) -> int:
    from recai.agent.domain import Domain
    from recai.data import load
    from recai.train import TrainConfig

    data = load(args.dataset)
    domain = Domain.from_parts(data.name, data.catalog, data.interactions)
    cfg = TrainConfig(lr=args.lr, epochs=args.epochs, batch_size=args.batch_size, warmup_steps=20, seed=args.seed,
                      log_every=20)
    adapter = train_planner(args.base, domain, args.out, args.n_train, cfg, r=args.rank, alpha=2 * args.rank)
    print(adapter)
    print(f"evaluate: python bench/planner.py --adapter {adapter}", file=sys.stderr)
    return 0
