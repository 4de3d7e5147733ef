"""RecAI's title similarity: equal to scikit-learn's TfidfVectorizer with RecLM-eval's analyzer."""
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from recai.eval.titles import THRESHOLD, TrigramTfidf, clean, trigrams

CORPUS = ["Toy Story (1995)", "Toy Story 2 (1999)", "Heat (1995)", "Casino (1995)", "Matrix, The (1999)",
          "Alien (1979)", "Aliens (1986)", "Seven (a.k.a. Se7en) (1995)", "Amélie (2001)"]


def test_clean_and_grams_follow_recai():
    assert clean("  Matrix, The (1999)!! ") == "matrix the 1999"
    assert clean("Amélie") == "amlie"  # non-ASCII letters are dropped, as RecAI does
    assert trigrams("Heat (1995)") == ["hea", "eat", "199", "995"]


def reference_similarity(corpus, a, b):
    sklearn = pytest.importorskip("sklearn.feature_extraction.text")
    vec = sklearn.TfidfVectorizer(min_df=1, analyzer=trigrams).fit(corpus)
    x, y = vec.transform(a), vec.transform(b)
    return torch.tensor((x @ y.T).toarray(), dtype=torch.float32)


def test_cosines_equal_scikit_learns():
    model = TrigramTfidf(CORPUS)
    queries = ["toy story", "The Matrix", "heat", "Alien", "Se7en", "Completely unknown zzzz"]
    assert torch.allclose(model.similarity(queries, CORPUS), reference_similarity(CORPUS, queries, CORPUS),
                          atol=1e-6)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(alphabet="abcde fgh(19)", min_size=1, max_size=20), min_size=1, max_size=12),
       st.lists(st.text(alphabet="abcde fgh(19)xyz", max_size=25), min_size=1, max_size=6))
def test_cosines_equal_scikit_learns_on_random_catalogs(corpus, queries):
    assume(any(trigrams(t) for t in corpus))  # scikit-learn refuses a corpus without a single gram
    got = TrigramTfidf(corpus).similarity(queries, corpus)
    assert torch.allclose(got, reference_similarity(corpus, queries, corpus), atol=1e-5)


def test_threshold_decisions():
    model = TrigramTfidf(CORPUS)
    assert THRESHOLD == 0.6
    assert model.same("Toy Story", "Toy Story (1995)") and not model.same("Toy Story", "Heat (1995)")
    index, score = model.best(["aliens", "casino 1995"])
    assert [CORPUS[i] for i in index] == ["Aliens (1986)", "Casino (1995)"] and min(score) > 0.6
    with pytest.raises(ValueError, match="at least one title"):
        TrigramTfidf([])
