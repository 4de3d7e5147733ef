"""The catalog-title constraint never forbids an allowed title and never allows anything else."""
import json
import random
import re

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recai.gen.constrain import TitleConstraint, TitleTrie, batched
from recai.text import Tokenizer

LINE = re.compile(r"^\s?(\d+)\. (.*)$")  # SentencePiece decodes a later "2." as " 2."


def bpe_tokenizer(texts, vocab_size, directory):
    """A byte-level BPE trained on texts, with an <eos> token, loaded as recai's Tokenizer."""
    from tokenizers import Tokenizer as HFTokenizer
    from tokenizers import decoders, models, pre_tokenizers, trainers

    tok = HFTokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<eos>"], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, trainer)
    directory.mkdir(parents=True, exist_ok=True)
    tok.save(str(directory / "tokenizer.json"))
    (directory / "tokenizer_config.json").write_text(json.dumps({"eos_token": "<eos>"}))
    return Tokenizer.from_pretrained(directory)


def feed(proc, tokens, vocab):
    """Feed tokens one by one as the decoding loop would, checking each is allowed first."""
    ids = [0] * proc.prompt_len
    for t in tokens:
        logits = proc(torch.tensor([ids]), torch.zeros(1, vocab))
        if logits[0, t] == float("-inf"):
            return False
        ids.append(t)
    return True


def walk(proc, vocab, rng, limit=400):
    """A random decode under the constraint: pick any allowed token until a stop token."""
    ids, out = [0] * proc.prompt_len, []
    for _ in range(limit):
        logits = proc(torch.tensor([ids]), torch.zeros(1, vocab))
        allowed = torch.nonzero(logits[0] == 0).flatten().tolist()
        assert allowed, "the constraint left no token"
        t = rng.choice(allowed)
        if t in proc.stop_ids:
            return out
        ids.append(t)
        out.append(t)
    raise AssertionError("the list never ended")


def written_titles(tokenizer, tokens):
    text = tokenizer.decode(tokens)
    lines = [line for line in text.split("\n") if line]
    parsed = [LINE.match(line) for line in lines]
    assert all(parsed), text
    assert [int(m.group(1)) for m in parsed] == list(range(1, len(parsed) + 1)), text
    return [m.group(2) for m in parsed]


def check_catalog(titles, tokenizer, rng, count=None, n_excluded=0):
    trie = TitleTrie(titles, tokenizer)
    excluded = rng.sample(range(len(titles)), min(n_excluded, len(titles) - 1))
    allowed_titles = {t for i, t in enumerate(titles) if i not in excluded} - {titles[i] for i in excluded}
    vocab = tokenizer.vocab_size
    # Never forbids: every allowed title can be written as the first item, in its trie tokens.
    number = tokenizer.encode("1.", add_bos=False, add_eos=False)
    for i, t in enumerate(titles):
        if t in allowed_titles:
            proc = TitleConstraint(trie, count=count, exclude=tuple(excluded)).processor(tokenizer, 3)
            assert feed(proc, number + trie.tokens_of(i), vocab), t
    # Never allows: random decodes only ever write allowed titles, each once, `count` of them if asked.
    for _ in range(5):
        proc = TitleConstraint(trie, count=count, max_items=6, exclude=tuple(excluded)).processor(tokenizer, 3)
        written = written_titles(tokenizer, walk(proc, vocab, rng))
        assert written and all(w in allowed_titles for w in written), (written, allowed_titles)
        assert len(set(written)) == len(written)
        if count is not None:
            assert len(written) == min(count, len(allowed_titles))
        else:
            assert len(written) <= 6


TITLE = st.text(alphabet="abcdefgh XYZ:'&-,.!", min_size=1, max_size=24).map(lambda s: " ".join(s.split())).filter(bool)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(titles=st.lists(st.tuples(TITLE, st.integers(1920, 2020)), min_size=1, max_size=25, unique=True),
       vocab=st.integers(280, 420), count=st.one_of(st.none(), st.integers(1, 4)), excluded=st.integers(0, 5),
       seed=st.integers(0, 1000))
def test_random_catalogs_and_tokenizers(tmp_path_factory, titles, vocab, count, excluded, seed):
    catalog = sorted({f"{t} ({y})" for t, y in titles})
    rng = random.Random(seed)
    corpus = catalog + [f"{n}. {t}" for n, t in enumerate(catalog, 1)]
    tok = bpe_tokenizer(corpus, vocab, tmp_path_factory.mktemp("bpe"))
    check_catalog(catalog, tok, rng, count, excluded)


@pytest.fixture(scope="module")
def movie_titles():
    from recai.data import load

    titles = load("ml-latest-small").catalog.titles
    return random.Random(0).sample(titles, 300)


def test_real_titles_under_smollm2_and_sentencepiece(movie_titles, smollm2_gguf, stories_dir):
    for tok in (Tokenizer.from_pretrained(smollm2_gguf), Tokenizer.from_pretrained(stories_dir / "tok512.model")):
        check_catalog(movie_titles, tok, random.Random(1), count=3, n_excluded=50)
        check_catalog(movie_titles[:40], tok, random.Random(2), count=None, n_excluded=0)


def test_history_and_written_items_are_excluded_and_bad_options_are_named(tmp_path):
    titles = ["Heat (1995)", "Heat (1986)", "Casino (1995)"]
    tok = bpe_tokenizer(titles * 3, 300, tmp_path / "t")
    trie = TitleTrie(titles, tok)
    number = tok.encode("1.", add_bos=False, add_eos=False)
    proc = TitleConstraint(trie, exclude=(0,)).processor(tok, 1)
    assert not feed(proc, number + trie.tokens_of(0), tok.vocab_size)  # the history item is blocked
    proc = TitleConstraint(trie, count=3, exclude=(0,)).processor(tok, 1)
    written = written_titles(tok, walk(proc, tok.vocab_size, random.Random(0)))
    assert sorted(written) == ["Casino (1995)", "Heat (1986)"]  # only two left: the list stops there
    with pytest.raises(ValueError, match="not a catalog index"):
        TitleConstraint(trie, exclude=(7,)).processor(tok, 1)
    with pytest.raises(ValueError, match="every catalog title is excluded"):
        TitleConstraint(trie, exclude=(0, 1, 2)).processor(tok, 1)


def test_a_batched_processor_constrains_each_row(tmp_path):
    titles = ["Heat (1995)", "Casino (1995)", "Alien (1979)"]
    tok = bpe_tokenizer(titles * 3, 300, tmp_path / "t")
    trie = TitleTrie(titles, tok)
    procs = [TitleConstraint(trie, count=1, exclude=(i,)).processor(tok, 2) for i in range(2)]
    process = batched(procs)
    logits = process(torch.zeros(2, 2, dtype=torch.long), torch.zeros(2, tok.vocab_size))
    first = tok.encode("1.", add_bos=False, add_eos=False)[0]
    assert (logits[:, first] == 0).all() and (logits == 0).sum(1).tolist() == [1, 1]
