"""Tool learning: planner SFT rows are well formed, and a short LoRA run saves an adapter that loads back."""
import json

from recai.agent.plan import parse_plan
from recai.agent.tool_learning import TUNED_SYSTEM, load_planner_llm, planner_rows, train_planner
from recai.train import TrainConfig


def test_rows_pair_a_request_with_its_gold_plan(small_domain):
    rows = planner_rows(small_domain, 14)
    assert len(rows) == 14
    for row in rows:
        system, user, assistant = row["messages"]
        assert system["content"] == TUNED_SYSTEM and user["role"] == "user"
        assert parse_plan(assistant["content"])  # the target is a valid plan


def test_a_short_run_lowers_the_loss_and_the_adapter_loads(small_domain, smollm2_gguf, tmp_path):
    cfg = TrainConfig(lr=1e-3, max_steps=6, batch_size=4, seed=0, log_every=1)
    adapter = train_planner(str(smollm2_gguf), small_domain, tmp_path, n_train=24, cfg=cfg, r=4, alpha=8,
                            progress=False)
    assert (adapter / "adapter_config.json").is_file() and (adapter / "adapter_model.safetensors").is_file()
    assert sum(f.stat().st_size for f in adapter.iterdir()) < 5_000_000
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["n_train"] == 24 and report["final_loss"] < report["first_loss"]
    llm = load_planner_llm(str(smollm2_gguf), adapter)
    assert llm.chat([{"role": "user", "content": "hi"}], max_tokens=2)  # the merged model still runs
