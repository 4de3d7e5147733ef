"""A tiny decoder with SmolLM2's tokenizer, a 24-film catalog and small SASRec / BPR-MF targets."""
import pytest
import torch

from recai.data import Catalog, Interactions
from recai.nn.llama import Llama, LlamaConfig

GENRES = ["Action", "Comedy", "Drama", "Horror"]


@pytest.fixture(scope="session")
def tokenizer(smollm2_gguf):
    from recai.text import Tokenizer

    return Tokenizer.from_pretrained(smollm2_gguf)


@pytest.fixture()
def tiny_model(tokenizer):
    torch.manual_seed(0)
    return Llama(LlamaConfig(dim=32, n_layers=2, n_heads=4, n_kv_heads=2, hidden_dim=64,
                             vocab_size=tokenizer.vocab_size, max_seq_len=1024)).eval()


@pytest.fixture(scope="session")
def catalog():
    return Catalog.build([{"id": str(i), "title": f"Film {chr(65 + i)}", "year": 1990 + i,
                           "genres": [GENRES[i % 4]]} for i in range(24)])


@pytest.fixture(scope="session")
def interactions():
    # 40 users; user u watches a run of items starting at u % 20, so neighbours are predictable.
    users, items = [], []
    for u in range(40):
        for k in range(5):
            users.append(u)
            items.append((u % 20 + k) % 24)
    return Interactions.from_events(users, items, n_items=24)


@pytest.fixture(scope="session")
def sasrec(interactions):
    from recai.recsys import SASRec, SASRecConfig

    return SASRec(SASRecConfig(dim=16, n_layers=1, n_heads=1, inner_dim=32, max_len=10)).fit(interactions, epochs=3)


@pytest.fixture(scope="session")
def mf(interactions):
    from recai.recsys import BPRMF

    return BPRMF(dim=8).fit(interactions, epochs=3)
