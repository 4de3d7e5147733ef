"""The rule-based planner on crafted requests: the exact plan it writes."""
import pytest

from recai.agent.plan import PlanError, Step, parse_plan, plan_to_json
from recai.agent.rule_planner import RulePlanner


@pytest.fixture(scope="module")
def planner(small_domain):
    return RulePlanner(small_domain)


def tools(plan):
    return [s.tool for s in plan]


def test_similar_to_a_liked_title(planner):
    plan = planner.plan("I loved The Matrix, can you recommend something similar?")
    assert plan == [Step("soft_filter", "like: Matrix, The (1999)"), Step("rank", "similarity")]


def test_categories_decade_and_exclusion(planner):
    plan = planner.plan("Any funny movies from the 90s without romance?")
    assert plan == [Step("hard_filter", "genres = 'Comedy' AND genres != 'Romance' "
                                        "AND year >= 1990 AND year <= 1999"), Step("rank", "preference")]


def test_information_question_is_a_lookup(planner):
    assert planner.plan("What year was Toy Story released?") == [
        Step("lookup", "SELECT title, year FROM items WHERE title = 'Toy Story (1995)'")]


def test_choosing_among_named_items(planner):
    plan = planner.plan("Which of Heat, Casino or Goodfellas should I watch tonight?")
    assert plan == [Step("candidates", "Heat (1995); Casino (1995); Goodfellas (1990)"), Step("rank", "preference")]


def test_popular_rated_and_diverse(planner):
    assert planner.plan("Show me popular sci-fi movies after 2010") == [
        Step("hard_filter", "genres = 'Sci-Fi' AND year >= 2011"), Step("rank", "popularity")]
    plan = planner.plan("highly rated dramas, a good variety please")
    assert plan == [Step("hard_filter", "genres = 'Drama' AND avg_rating >= 4"),
                    Step("rank", "preference, diversity")]


def test_description_goes_to_the_soft_filter(planner):
    assert planner.plan("I want a movie about time travel and robots") == [
        Step("soft_filter", "time travel robots"), Step("rank", "similarity")]


def test_plans_round_trip_through_json_and_bad_plans_are_refused():
    plan = [Step("hard_filter", "year > 2000"), Step("rank", "popularity")]
    assert parse_plan("Plan: " + plan_to_json(plan) + " done") == plan
    for bad, why in [("no json here", "no JSON list"), ("[]", "non-empty"), ('[{"tool": "drop_table", "input": ""}]',
                     "unknown tool"), ('[{"tool": "rank", "input": "x", "extra": 1}]', "step 0"),
                     ("[" + ",".join(['{"tool": "rank", "input": ""}'] * 7) + "]", "at most"), ("[{]", "not valid JSON")]:
        with pytest.raises(PlanError, match=why):
            parse_plan(bad)
