"""The LLM planner's control flow with a scripted brain, and one real constrained plan from SmolLM2."""
import pytest

from recai.agent.grammar import plan_text_is_valid
from recai.agent.llm_planner import LLMPlanner
from recai.agent.plan import PlanError, Step
from recai.agent.requests import Example
from recai.agent.tools import TOOLS

PLAN = '[{"tool": "hard_filter", "input": "year > 2000"}, {"tool": "rank", "input": "popularity"}]'
DEMOS = [Example("Movies like Heat please", [Step("soft_filter", "like: Heat (1995)"), Step("rank", "similarity")], "similar"),
         Example("What year was Fargo released?", [Step("lookup", "SELECT title, year FROM items WHERE title = 'Fargo (1996)'")], "question"),
         Example("Popular comedies please", [Step("hard_filter", "genres = 'Comedy'"), Step("rank", "popularity")], "popular")]


class Scripted:
    name = "scripted"

    def __init__(self, *replies):
        self.replies, self.calls = list(replies), []

    def chat(self, messages, max_tokens=256, temperature=0.0, stop=(), constraint=None):
        self.calls.append((messages, constraint))
        return self.replies.pop(0)


def test_the_prompt_shows_tools_schema_and_the_nearest_demos(small_domain):
    llm = Scripted(PLAN)
    planner = LLMPlanner(small_domain, llm, demos=DEMOS, n_demos=2)
    assert planner.plan("When did Toy Story come out?") == [Step("hard_filter", "year > 2000"), Step("rank", "popularity")]
    messages, constraint = llm.calls[0]
    assert "hard_filter" in messages[0]["content"] and "items(idx INTEGER" in messages[0]["content"]
    shown = [m["content"] for m in messages[1:-1] if m["role"] == "user"]
    assert shown[-1] == "What year was Fargo released?"  # the closest demo sits next to the request
    assert constraint is planner.grammar


def test_reflection_can_replace_the_plan_and_ok_keeps_it(small_domain):
    fixed = '[{"tool": "rank", "input": "preference"}]'
    planner = LLMPlanner(small_domain, Scripted(PLAN, fixed, "OK"), demos=DEMOS, reflections=3)
    assert planner.plan("anything") == [Step("rank", "preference")]
    planner = LLMPlanner(small_domain, Scripted(PLAN, "OK"), demos=DEMOS, reflections=3)
    assert len(planner.plan("anything")) == 2


def test_an_unparseable_reply_raises_plan_error(small_domain):
    planner = LLMPlanner(small_domain, Scripted("Sure! Here are some movies."), demos=DEMOS, constrain=False)
    with pytest.raises(PlanError):
        planner.plan("anything")


def test_shipped_demo_bank_is_large_and_valid(small_domain):
    from recai.agent.demos import BANK_SIZE, bank_path, read_bank

    bank = read_bank(bank_path("ml-latest-small"))
    assert len(bank) == BANK_SIZE >= 100
    assert len({e.request for e in bank}) == len(bank)
    assert len({e.intent for e in bank}) >= 7


def test_smollm2_plans_under_the_grammar(small_domain, smollm2_gguf):
    from recai.llm import LocalLLM

    llm = LocalLLM.from_spec(str(smollm2_gguf))
    planner = LLMPlanner(small_domain, llm, demos=DEMOS, n_demos=3)
    text = llm.chat(planner.prompt("Any funny movies from the 90s?"), max_tokens=120, constraint=planner.grammar)
    assert plan_text_is_valid(text, list(TOOLS)), text
