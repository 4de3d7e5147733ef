"""RecLM-eval's list errors on crafted replies; the copy error is an LCS with fuzzy equality."""
from recai.eval.list_errors import copy_length, error_rates, list_errors
from recai.eval.titles import TrigramTfidf

CORPUS = ["Toy Story (1995)", "Heat (1995)", "Casino (1995)", "Alien (1979)", "Ronin (1998)", "Fargo (1996)"]


def test_each_error_is_flagged():
    t = TrigramTfidf(CORPUS)
    history, candidates = ["Heat (1995)"], ["Casino (1995)", "Alien (1979)", "Ronin (1998)"]
    clean = list_errors(["Alien", "Casino"], history, candidates, t)
    assert (clean.history, clean.duplicate, clean.candidate) == (False, False, False)
    e = list_errors(["heat", "Alien (1979)", "alien", "Zorbulon"], history, candidates, t)
    assert (e.history, e.duplicate, e.candidate) == (True, True, True)
    assert list_errors([], history, candidates, t).copy == 0


def test_copy_error_is_a_fuzzy_lcs():
    t = TrigramTfidf(CORPUS)
    ref = ["Heat (1995)", "Casino (1995)", "Alien (1979)", "Ronin (1998)"]
    assert copy_length(["heat", "casino", "alien", "ronin"], ref, t) == 4  # the input echoed
    assert copy_length(["ronin", "alien", "casino", "heat"], ref, t) == 1  # reversed
    assert copy_length(["casino", "fargo", "ronin"], ref, t) == 2


def test_rates_average_the_flags():
    t = TrigramTfidf(CORPUS)
    errs = [list_errors(["Heat"], ["Heat (1995)"], [], t), list_errors(["Fargo"], ["Heat (1995)"], [], t)]
    rates = error_rates(errs)
    assert rates["history_error_rate"] == 0.5 and rates["duplicate_error_rate"] == 0.0
    assert rates["copy_error"] == 0.5
