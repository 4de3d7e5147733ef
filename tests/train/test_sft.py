"""SFT on the real tiny Llama (stories260K): memorisation, exact resume, prompt masking, bad input."""
import json

import pytest
import torch

from recai.errors import CheckpointError, DataError
from recai.nn.llama import Llama
from recai.nn.lora import apply_lora
from recai.text import Tokenizer
from recai.train import TrainConfig
from recai.train.checkpoint import find_checkpoint
from recai.train.sft import IGNORE, build_example, load_sft_jsonl, train_sft

COLOURS = ["red", "blue", "green", "big", "small", "old"]
ROWS = [{"prompt": f"Tom has a {c} ball.", "response": f"The ball is {c}."} for c in COLOURS]


@pytest.fixture()
def stories(stories_dir):
    return Llama.from_pretrained(stories_dir / "stories260K.bin"), Tokenizer.from_pretrained(stories_dir / "tok512.model")


def test_memorises_a_small_set(stories):
    model, tok = stories
    result = train_sft(model, tok, ROWS, TrainConfig(lr=3e-3, max_steps=60, batch_size=6, warmup_steps=5),
                       progress=False)
    assert result.losses[0] > 2.0 and result.losses[-1] < 0.05
    ex = build_example(ROWS[2], tok)
    prompt_len = sum(label == IGNORE for label in ex.labels)
    out = model(torch.tensor([ex.ids[:prompt_len]]))
    assert int(out[0, -1].argmax()) == ex.ids[prompt_len]  # the first response token is now the model's choice


def test_resume_reproduces_the_following_losses_exactly(stories, stories_dir, tmp_path):
    model, tok = stories
    cfg = TrainConfig(lr=1e-3, max_steps=12, batch_size=2, grad_accum=2, warmup_steps=2, save_every=6, seed=3)
    apply_lora(model, ["wq", "wv", "w2"], r=4, alpha=8, dropout=0.1)  # dropout: randomness must resume too
    full = train_sft(model, tok, ROWS, cfg, out_dir=tmp_path / "run", progress=False)
    again = Llama.from_pretrained(stories_dir / "stories260K.bin")
    apply_lora(again, ["wq", "wv", "w2"], r=4, alpha=8, dropout=0.1)
    resumed = train_sft(again, tok, ROWS, cfg, resume=tmp_path / "run" / "step-000006", progress=False)
    assert resumed.losses == full.losses[6:]  # bit for bit
    assert (find_checkpoint(tmp_path / "run") / "adapter" / "adapter_config.json").is_file()


def test_chat_rows_train_only_the_assistant_turns(smollm2_gguf):
    tok = Tokenizer.from_pretrained(smollm2_gguf)
    row = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"},
                        {"role": "user", "content": "A film?"}, {"role": "assistant", "content": "Alien (1979)."}]}
    ex = build_example(row, tok)
    assert ex.ids == tok.encode_chat(row["messages"], add_generation_prompt=False)
    trained = tok.decode([i for i, label in zip(ex.ids, ex.labels) if label != IGNORE])
    assert trained == "Hello!<|im_end|>\nAlien (1979).<|im_end|>\n"


def test_bad_input_is_named(stories, tmp_path, stories_dir):
    model, tok = stories
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(ROWS[0]) + "\n" + json.dumps({"prompt": "only a prompt"}) + "\n")
    with pytest.raises(DataError, match=r"bad.jsonl:2: needs the field\(s\) messages or prompt\+response"):
        load_sft_jsonl(bad)
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(DataError, match="empty.jsonl: no examples"):
        load_sft_jsonl(tmp_path / "empty.jsonl")
    with pytest.raises(DataError, match="empty dataset"):
        train_sft(model, tok, [], TrainConfig(max_steps=1), progress=False)
    with pytest.raises(DataError, match="need a tokenizer with a chat template"):
        train_sft(model, tok, [{"messages": [{"role": "user", "content": "x"}]}], TrainConfig(max_steps=1))
    train_sft(model, tok, ROWS, TrainConfig(max_steps=2, batch_size=2), out_dir=tmp_path / "run", progress=False)
    other = Llama.from_pretrained(stories_dir / "stories260K.bin")
    apply_lora(other, ["wq"], r=2)
    with pytest.raises(CheckpointError, match="written for another model(.|\n)*not in the checkpoint: layers.0.attention.wq.lora_a"):
        train_sft(other, tok, ROWS, TrainConfig(max_steps=4, batch_size=2), resume=tmp_path / "run", progress=False)


def test_a_crash_mid_save_leaves_the_previous_checkpoint(stories, tmp_path, monkeypatch):
    model, tok = stories
    run = tmp_path / "run"
    train_sft(model, tok, ROWS, TrainConfig(max_steps=2, batch_size=2), out_dir=run, progress=False)
    before = sorted(p.name for p in run.iterdir())

    def crash(obj, path, *a, **k):
        with open(path, "wb") as f:
            f.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        train_sft(model, tok, ROWS, TrainConfig(max_steps=4, batch_size=2), out_dir=run, resume=run, progress=False)
    monkeypatch.undo()
    assert sorted(p.name for p in run.iterdir()) == before  # no half-written folder, `latest` untouched
    assert find_checkpoint(run).name == "step-000002"


def test_loss_with_the_head_at_targets_only_equals_the_full_logits_loss(stories):
    from recai.train.sft import SFTTask, prepare, token_loss_sum

    model, tok = stories
    examples, _ = prepare(ROWS, tok)
    task = SFTTask(examples, pad_id=0)
    batch = task.collate([0, 3, 5])
    full = token_loss_sum(model(batch["ids"]), batch["labels"])
    assert abs(float(task.loss_sum(model, batch)) - float(full)) <= 1e-4 * float(full)
    assert task.count(batch) == sum(label != IGNORE for ex in (examples[0], examples[3], examples[5])
                                    for label in ex.labels[1:])


def test_bf16_autocast_checkpointing_and_periodic_eval(stories, capsys):
    model, tok = stories
    cfg = TrainConfig(lr=3e-3, max_steps=6, batch_size=3, bf16=True, activation_checkpointing=True, eval_every=3,
                      log_every=2)
    result = train_sft(model, tok, ROWS, cfg, eval_rows=ROWS[:2])
    assert [e["step"] for e in result.evals] == [3, 6] and result.evals[1]["eval_loss"] < result.evals[0]["eval_loss"]
    err = capsys.readouterr().err
    assert "step 2/6  loss" in err and "tok/s  ETA" in err and "eval at step 3: eval_loss" in err
    assert all(p.dtype == torch.float32 for p in model.parameters())  # autocast leaves the weights in fp32
