"""Run by test_ddp.py: SFT or contrastive training on stories260K, under torchrun (2 gloo ranks) or
alone; saves the final weights and losses.

    python ddp_worker.py OUT sft|contrastive|contrastive-local BATCH_SIZE GRAD_ACCUM
"""
import sys
from pathlib import Path

import torch

from recai.nn.llama import Llama
from recai.text import Tokenizer
from recai.train import TrainConfig
from recai.train.contrastive import train_contrastive
from recai.train.distributed import init_from_env
from recai.train.sft import train_sft

out, mode, batch_size, accum = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
me = init_from_env("gloo")
fixtures = Path(__file__).resolve().parents[1] / "fixtures" / "stories260K"
model = Llama.from_pretrained(fixtures / "stories260K.bin")
tok = Tokenizer.from_pretrained(fixtures / "tok512.model")
cfg = TrainConfig(lr=2e-3, max_steps=7, batch_size=batch_size, grad_accum=accum, warmup_steps=2, seed=5)
if mode == "sft":
    rows = [{"prompt": f"Tom has {n} red balls and", "response": f" {n + 1} blue ones."} for n in range(11)]
    result = train_sft(model, tok, rows, cfg, progress=False)
else:  # decoder embeddings: last token (EOS appended); every rank's candidates are negatives
    triples = [(f"a story about {w}", f"Once upon a time there was a {w}.", [f"The {w} was sad."])
               for w in ["cat", "dog", "bird", "fish", "tree", "king", "ship", "moon", "girl", "boy", "cake"]]
    result = train_contrastive(model, tok, triples, cfg, pooling="last", add_eos=True,
                               cross_device=mode == "contrastive", progress=False)
if me.main:
    torch.save({"state": model.state_dict(), "losses": result.losses}, out)
