"""Simulated conversations: success at the turn that names the target; the LLM user obeys the rules."""
from recai.eval.conversation import LLMUser, converse, rule_violations, summarize
from recai.eval.simulator import SimulatedUser
from recai.eval.titles import TrigramTfidf

TITLES = ["Heat (1995)", "Casino (1995)", "Ronin (1998)", "Alien (1979)", "Fargo (1996)"]
USER = SimulatedUser(history=[0, 1], target=2, liked=0, reveals=["an action movie", "from the 1990s"])


class Scripted:
    def __init__(self, replies):
        self.replies, self.seen = list(replies), []

    def reply(self, messages):
        self.seen.append(messages[-1]["content"])
        return self.replies.pop(0)

    def chat(self, messages, max_tokens=256, temperature=0.0, **_):
        return self.reply(messages)


def test_success_on_the_turn_that_names_the_target():
    rec = Scripted(["1. Casino (1995)\n2. Fargo (1996)", "1. Alien\n2. ronin (1998)"])
    c = converse(rec, USER, "Ronin (1998)", TrigramTfidf(TITLES), liked_title="Heat (1995)")
    assert (c.success, c.turns) == (True, 2)
    assert rec.seen == ["I liked Heat (1995). What should I watch next?",
                        "I liked Heat (1995). I'm looking for an action movie."]


def test_failure_counts_every_turn_and_a_crashing_recommender_is_survived():
    class Broken:
        def reply(self, messages):
            raise RuntimeError("no model")

    c = converse(Broken(), USER, "Ronin (1998)", TrigramTfidf(TITLES), max_turns=3)
    assert (c.success, c.turns) == (False, 3) and "recommender failed" in c.transcript[1]["content"]
    s = summarize([c, converse(Scripted(["Ronin (1998)"]), USER, "Ronin (1998)", TrigramTfidf(TITLES))])
    assert s["recall"] == 0.5 and s["avg_turns"] == 2.0


def test_rules_and_regeneration():
    assert rule_violations("I want Ronin!", "Ronin (1998)") == ["names the target"]
    assert rule_violations("", "Ronin (1998)") == ["empty"]
    assert rule_violations("Something with car chases.", "Ronin (1998)") == []
    # Leaks twice, then obeys: two regenerations, no fallback.
    user = LLMUser(Scripted(["Is it Ronin?", "ronin please", "A tense 90s thriller with car chases."]), retries=2)
    text, regen, fell_back = user.say("Heat", "Ronin (1998)", "an action movie", [], "rule message")
    assert (text, regen, fell_back) == ("A tense 90s thriller with car chases.", 2, False)
    # Always leaks: the rule message is used.
    user = LLMUser(Scripted(["Ronin"] * 3), retries=2)
    assert user.say("Heat", "Ronin (1998)", "x", [], "rule message") == ("rule message", 2, True)
