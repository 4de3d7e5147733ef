"""The plan grammar: whatever the logits say, constrained decoding yields a valid plan of real tools."""
import json

import pytest
import torch

from recai.agent.grammar import LAST, OPEN, PlanConstraint, _State, plan_text_is_valid
from recai.agent.tools import TOOLS
from recai.text import Tokenizer

TOOL_NAMES = list(TOOLS)


@pytest.fixture(scope="module")
def tokenizer(smollm2_gguf):
    return Tokenizer.from_pretrained(smollm2_gguf)


def decode_under(grammar, tokenizer, logits_for, max_tokens=400):
    """A decoding loop without a model: logits_for(step) -> (V,) logits, masked by the processor, argmax."""
    prompt = [1, 2, 3]
    proc = grammar.processor(tokenizer, len(prompt))
    ids = list(prompt)
    for step in range(max_tokens):
        logits = proc(torch.tensor([ids]), logits_for(step)[None])
        tok = int(logits.argmax(-1))
        assert logits[0, tok] > float("-inf")
        if tok in tokenizer.stop_ids:
            return tokenizer.decode(ids[len(prompt):]), True
        ids.append(tok)
    return tokenizer.decode(ids[len(prompt):]), False


@pytest.mark.parametrize("seed", range(12))
def test_random_logits_always_give_a_valid_plan(tokenizer, seed):
    g = torch.Generator().manual_seed(seed)
    V = len(tokenizer)
    grammar = PlanConstraint(TOOL_NAMES, max_steps=3, max_input_chars=40)
    text, stopped = decode_under(grammar, tokenizer, lambda step: torch.randn(V, generator=g) * 5)
    assert stopped, text
    assert plan_text_is_valid(text, TOOL_NAMES), text
    steps = json.loads(text)
    assert 1 <= len(steps) <= 3 and all(len(s["input"]) <= 40 for s in steps)


def test_a_model_that_wants_to_ramble_is_stopped_at_the_limits(tokenizer):
    """Logits that always prefer one letter: the input is capped, the plan closes, decoding stops."""
    V = len(tokenizer)
    a = tokenizer.encode("a", add_bos=False)[0]
    bias = torch.zeros(V)
    bias[a] = 10.0
    grammar = PlanConstraint(TOOL_NAMES, max_steps=2, max_input_chars=10)
    text, stopped = decode_under(grammar, tokenizer, lambda step: bias)
    assert stopped and plan_text_is_valid(text, TOOL_NAMES)
    inputs = [s["input"] for s in json.loads(text)]
    assert 1 <= len(inputs) <= 2 and set(inputs) == {"a" * 10}


def test_advance_accepts_the_grammar_and_nothing_else():
    g = PlanConstraint(["rank", "map"], max_steps=2)
    s = g.advance(_State("lit"), OPEN + 'rank", "input": "popularity' + LAST)
    assert s is not None and s.phase == "done"
    assert g.advance(_State("lit"), '[{"tool": "drop') is None
    assert g.advance(_State("lit"), '[{"tool": "rank", "input": "a\\"') is None  # no escapes
    assert g.advance(_State("lit"), OPEN + 'rank", "input": "x"}, {"tool": "map", "input": "y"}, {') is None
    assert g.json_schema()["items"]["properties"]["tool"]["enum"] == ["rank", "map"]
    with pytest.raises(ValueError):
        PlanConstraint(['bad"name'])
