"""Constrained beam search: exact against brute force when wide enough, exclusions respected."""
import pytest
import torch

from recai.beam_search import beam_search
from recai.nn.llama import Llama, LlamaConfig
from recai.text.title_trie import TitleTrie, TitleWalk

TITLES = ["Heat (1995)", "Heathers (1989)", "Casino (1995)", "Casablanca (1942)", "Alien (1979)", "Aliens (1986)",
          "Up (2009)", "The Thing (1982)", "The Fly (1986)", "The Birds (1963)", "Jaws (1975)", "Jaws 2 (1978)"]


@pytest.fixture(scope="module")
def setup(smollm2_gguf):
    from recai.text import Tokenizer

    tok = Tokenizer.from_pretrained(smollm2_gguf)
    torch.manual_seed(3)
    model = Llama(LlamaConfig(dim=32, n_layers=2, n_heads=4, n_kv_heads=2, hidden_dim=64,
                              vocab_size=tok.vocab_size, max_seq_len=256)).eval()
    return model, tok, TitleTrie(TITLES, tok)


def title_logprob(model, prompt, tokens):
    """Summed log-probability of `tokens` after `prompt` from one full forward, no cache."""
    with torch.no_grad():
        logits = model(torch.tensor([prompt + tokens]))[0].float().log_softmax(-1)
    return sum(float(logits[len(prompt) - 1 + i, t]) for i, t in enumerate(tokens))


def test_a_wide_beam_finds_the_most_likely_titles_in_order(setup):
    model, tok, trie = setup
    prompt = tok.encode("Recommend a film: 1.", add_bos=False, add_eos=False)
    walk = TitleWalk(trie)
    found = beam_search(model, prompt, walk, width=len(TITLES), n_best=5)
    brute = sorted(((title_logprob(model, prompt, trie.tokens_of(i)), i) for i in range(len(TITLES))), reverse=True)
    assert [walk.title(b.state) for b in found] == [i for _, i in brute[:5]]
    for b, (score, i) in zip(found, brute):
        assert b.tokens == trie.tokens_of(i)
        assert b.score == pytest.approx(score, abs=1e-4)  # cached steps score what a full forward does


def test_excluded_titles_never_come_back_and_narrow_beams_still_finish(setup):
    model, tok, trie = setup
    prompt = tok.encode("Another one: 1.", add_bos=False, add_eos=False)
    best = beam_search(model, prompt, TitleWalk(trie), width=len(TITLES), n_best=len(TITLES))
    assert sorted(TitleWalk(trie).title(b.state) for b in best) == list(range(len(TITLES)))  # all reachable
    top = TitleWalk(trie).title(best[0].state)
    walk = TitleWalk(trie, exclude=[top, 0])
    for width in (1, 2, 4):
        found = beam_search(model, prompt, walk, width=width)
        assert found and all(walk.title(b.state) not in (top, 0) for b in found)
        assert [b.score for b in found] == sorted((b.score for b in found), reverse=True)
    with pytest.raises(ValueError, match="every catalog title is excluded"):
        TitleWalk(trie, exclude=range(len(TITLES)))
    with pytest.raises(ValueError, match="beam width"):
        beam_search(model, prompt, walk, width=0)
