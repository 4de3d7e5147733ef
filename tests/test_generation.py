"""Decoding: sampling filters against transformers' warpers, stops, streaming, batching, the hook."""
import pytest
import torch

from recai.generation import (GenerationConfig, apply_repetition_penalty, generate, stream,
                              top_k_top_p_filter)
from recai.nn.llama import Llama
from recai.text import Tokenizer


@pytest.fixture(scope="module")
def stories(stories_dir):
    return Llama.from_pretrained(stories_dir / "stories260K.bin"), Tokenizer.from_pretrained(stories_dir / "tok512.model")


def test_filters_match_transformers_warpers():
    tg = pytest.importorskip("transformers.generation.logits_process")
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(4, 50, generator=g) * 3
    ids = torch.randint(0, 50, (4, 7), generator=g)
    for k, p in [(5, 1.0), (0, 0.8), (10, 0.5), (0, 1.0)]:
        ref = logits.clone()
        if k:
            ref = tg.TopKLogitsWarper(k)(ids, ref)
        if p < 1:
            ref = tg.TopPLogitsWarper(p)(ids, ref)
        ours = top_k_top_p_filter(logits.clone(), k, p)
        assert torch.equal(torch.isinf(ours), torch.isinf(ref)), (k, p)
        assert torch.equal(ours[~torch.isinf(ours)], ref[~torch.isinf(ref)])
    ref = tg.RepetitionPenaltyLogitsProcessor(1.3)(ids, logits.clone())
    assert torch.allclose(apply_repetition_penalty(logits.clone(), ids, 1.3), ref)


def test_greedy_generate_stops_on_a_stop_token_and_reports_it(stories):
    model, tok = stories
    full = generate(model, "Once upon a time", tok, max_new_tokens=60, stop_ids=[])[0].tokens
    stop = full[10]  # stories260K rarely writes EOS, so stop on a token we know comes
    out = generate(model, "Once upon a time", tok, max_new_tokens=60, stop_ids=[stop])[0]
    assert out.finish_reason == "stop" and out.tokens == full[: full.index(stop)]
    assert out.text == tok.decode(out.tokens)
    short = generate(model, "Once upon a time", tok, max_new_tokens=5)[0]
    assert short.finish_reason == "length" and len(short.tokens) == 5


def test_seeded_sampling_is_reproducible_and_seed_dependent(stories):
    model, tok = stories
    kw = dict(max_new_tokens=30, temperature=1.0, top_p=0.95, top_k=40)
    a = generate(model, "Lily", tok, seed=1, **kw)[0].tokens
    b = generate(model, "Lily", tok, seed=1, **kw)[0].tokens
    c = generate(model, "Lily", tok, seed=2, **kw)[0].tokens
    assert a == b and a != c


def test_stop_strings_cut_text(stories):
    model, tok = stories
    full = generate(model, "Once upon a time", tok, max_new_tokens=60)[0].text
    stop = full.split()[5]
    out = generate(model, "Once upon a time", tok, max_new_tokens=60, stop_strings=[stop])[0]
    assert out.finish_reason == "stop" and out.text == full[: full.index(stop)]
    streamed = "".join(stream(model, "Once upon a time", tok, max_new_tokens=60, stop_strings=[stop]))
    assert streamed == out.text


def test_stream_concatenates_to_generate(stories):
    model, tok = stories
    text = generate(model, "The dog", tok, max_new_tokens=80)[0].text
    assert "".join(stream(model, "The dog", tok, max_new_tokens=80)) == text


def test_batched_left_padding_equals_single(stories):
    model, tok = stories
    prompts = ["Once upon a time", "Tom had a red ball and", "The sun"]
    batched = generate(model, prompts, tok, max_new_tokens=25)
    for p, b in zip(prompts, batched):
        assert b.tokens == generate(model, p, tok, max_new_tokens=25)[0].tokens


def test_logits_processor_hook_constrains_output(stories):
    model, tok = stories
    allowed = torch.tensor([tok.encode("the", add_bos=False)[0], tok.encode(" dog", add_bos=False)[-1]])
    seen_shapes = []

    def only_allowed(ids, logits):
        seen_shapes.append(tuple(ids.shape))
        mask = torch.full_like(logits, float("-inf"))
        mask[:, allowed] = 0
        return logits + mask

    out = generate(model, "Once", tok, max_new_tokens=10, logits_processors=[only_allowed])[0]
    assert set(out.tokens) <= set(allowed.tolist())
    assert seen_shapes[0][1] < seen_shapes[-1][1]  # the hook sees the growing sequence


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="top_p"):
        GenerationConfig(top_p=0)
    with pytest.raises(ValueError, match="temperature"):
        GenerationConfig(temperature=-1)


def test_too_long_request_is_refused(stories):
    model, tok = stories
    with pytest.raises(ValueError, match="max_seq_len"):
        generate(model, "Hi", tok, max_new_tokens=10_000)
