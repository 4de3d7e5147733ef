"""Run by test_ddp.py: SFT on stories260K, under torchrun (2 gloo ranks) or alone; saves the final weights.

    python ddp_worker.py OUT BATCH_SIZE GRAD_ACCUM
"""
import sys
from pathlib import Path

import torch

from recai.nn.llama import Llama
from recai.text import Tokenizer
from recai.train import TrainConfig
from recai.train.distributed import init_from_env
from recai.train.sft import train_sft

out, batch_size, accum = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
me = init_from_env("gloo")
fixtures = Path(__file__).resolve().parents[1] / "fixtures" / "stories260K"
model = Llama.from_pretrained(fixtures / "stories260K.bin")
tok = Tokenizer.from_pretrained(fixtures / "tok512.model")
rows = [{"prompt": f"Tom has {n} red balls and", "response": f" {n + 1} blue ones."} for n in range(11)]
cfg = TrainConfig(lr=2e-3, max_steps=7, batch_size=batch_size, grad_accum=accum, warmup_steps=2, seed=5)
result = train_sft(model, tok, rows, cfg, progress=False)
if me.main:
    torch.save({"state": model.state_dict(), "losses": result.losses}, out)
