"""SmolLM2-135M-Instruct from its real Q4_1 GGUF: our engine against transformers on the same file."""
import pytest
import torch

from recai.generation import generate
from recai.nn.llama import Llama
from recai.text import Tokenizer

transformers = pytest.importorskip("transformers")
pytest.importorskip("gguf")


@pytest.fixture(scope="module")
def models(smollm2_gguf):
    ours = Llama.from_pretrained(smollm2_gguf)
    theirs = transformers.AutoModelForCausalLM.from_pretrained(
        smollm2_gguf.parent, gguf_file=smollm2_gguf.name, dtype=torch.float32).eval()
    return ours, theirs, Tokenizer.from_pretrained(smollm2_gguf)


def test_logits_match_transformers(models):
    ours, theirs, tok = models
    ids = torch.tensor([tok.encode("The three best movies about space travel are", add_bos=False)])
    with torch.no_grad():
        a, b = ours(ids), theirs(ids).logits
    rel = ((a - b).abs().max() / b.abs().max()).item()
    assert rel <= 1e-3, rel


def test_first_32_greedy_chat_tokens_identical(models):
    ours, theirs, tok = models
    prompt = tok.apply_chat([{"role": "user", "content": "Recommend a movie for a rainy day and say why."}])
    ids = tok.encode(prompt, add_bos=False)
    mine = generate(ours, ids, max_new_tokens=32, stop_ids=[])[0].tokens
    with torch.no_grad():
        x = torch.tensor([ids])
        ref = theirs.generate(x, attention_mask=torch.ones_like(x), max_new_tokens=32, min_new_tokens=32,
                              do_sample=False, pad_token_id=tok.pad_id)[0, len(ids):].tolist()
    assert mine == ref


def test_batched_generation_matches_single_rows(models):
    ours, _, tok = models
    prompts = ["Tell me a joke.", "What is the capital of France? Answer briefly and politely please."]
    chats = [tok.encode(tok.apply_chat([{"role": "user", "content": p}]), add_bos=False) for p in prompts]
    batched = generate(ours, chats, tok, max_new_tokens=12)
    for ids, b in zip(chats, batched):
        alone = generate(ours, ids, tok, max_new_tokens=12)[0]
        assert b.tokens == alone.tokens
