"""InfoNCE by hand, and contrastive fine-tuning of the real MiniLM."""
import math

import pytest
import torch

from recai.errors import DataError
from recai.nn.bert_weights import load_bert
from recai.text import Tokenizer
from recai.train import TrainConfig
from recai.train.contrastive import info_nce_sum, train_contrastive
from recai.train.schedule import lr_at


def test_info_nce_by_hand():
    q = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    c = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])
    got = info_nce_sum(q, c, torch.tensor([0, 2]), temperature=0.5)
    # row 0: logits (2, 1.2, 0); row 1: logits (0, 1.6, 2)
    row0 = -2 + math.log(math.exp(2) + math.exp(1.2) + 1)
    row1 = -2 + math.log(1 + math.exp(1.6) + math.exp(2))
    assert got.item() == pytest.approx(row0 + row1, rel=1e-6)
    masked = info_nce_sum(q, c, torch.tensor([0, 2]), 0.5, valid=torch.tensor([True, False, True]))
    assert masked.item() == pytest.approx(-2 + math.log(math.exp(2) + 1) + -2 + math.log(1 + math.exp(2)), rel=1e-6)


def test_lr_schedule_by_hand():
    assert lr_at(0, 1.0, warmup=4, total=10) == 0.25 and lr_at(3, 1.0, 4, 10) == 1.0
    assert lr_at(4, 1.0, 4, 10, min_ratio=0.1) == pytest.approx(1.0)
    assert lr_at(9, 1.0, 4, 10, min_ratio=0.1) == pytest.approx(0.1)
    assert lr_at(6, 1.0, 4, 10, min_ratio=0.0) == pytest.approx(0.5 * (1 + math.cos(math.pi * 2 / 5)))


def test_minilm_learns_to_match_and_bad_input_is_named(minilm_dir):
    model = load_bert(minilm_dir)
    tok = Tokenizer.from_pretrained(minilm_dir)
    pairs = [("zorblax", "the quiet lighthouse keeper"), ("quixel", "a loud parade of tubas"),
             ("frimble", "seven sleepy cats"), ("wuzzle", "a broken violin string")]
    triples = [(q, p, [pairs[(i + 1) % 4][1]]) for i, (q, p) in enumerate(pairs)]
    result = train_contrastive(model, tok, triples, TrainConfig(lr=1e-4, max_steps=12, batch_size=4),
                               max_length=32, progress=False)
    assert result.losses[-1] < 0.5 * result.losses[0]
    with pytest.raises(DataError, match="empty dataset"):
        train_contrastive(model, tok, [], TrainConfig(max_steps=1))
    with pytest.raises(DataError, match="contrastive example 1: expected"):
        train_contrastive(model, tok, [("a", "b"), ("only a query",)], TrainConfig(max_steps=1))
