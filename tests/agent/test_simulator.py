"""The simulated user of bench/agent.py: reveals come from the hidden target; the LLM voice keeps the facts."""
import random

from recai.errors import LLMError
from recai.eval.simulator import CATEGORY_NOUNS, LLMVoice, make_user


def test_reveals_describe_the_target_and_messages_restate_them(small_domain):
    cat = small_domain.catalog
    target = next(i for i in range(len(cat)) if len(cat.item(i)["genres"]) >= 2 and cat.item(i)["year"])
    history = [i for i in range(20) if i != target]
    user = make_user(cat, history, target, small_domain.popularity, random.Random(0))
    item = cat.item(target)
    assert user.liked in history[-10:] and user.target == target
    assert any(CATEGORY_NOUNS[g] in user.reveals[0] for g in item["genres"] if g in CATEGORY_NOUNS)
    assert f"from the {item['year'] // 10 * 10}s" in user.reveals
    first, later = user.message(0, "Heat"), user.message(3, "Heat")
    assert first == "I liked Heat. What should I watch next?"
    assert later.startswith("I liked Heat. I'm looking for ") and all(r in later for r in user.reveals[:3])
    again = make_user(cat, history, target, small_domain.popularity, random.Random(0))
    assert again == user  # seeded: two runs ask the same questions


class Voice:
    def __init__(self, reply):
        self.reply = reply

    def chat(self, messages, max_tokens=256, temperature=0.0, stop=(), constraint=None):
        assert temperature == 0.0 and "I liked Heat." in messages[0]["content"]
        if isinstance(self.reply, Exception):
            raise self.reply
        return self.reply


def test_the_llm_voice_rewrites_but_never_loses_the_liked_title():
    rule = "I liked Heat. I'm looking for a comedy."
    assert LLMVoice(Voice('"Loved Heat! Got any comedies?"')).say(rule, "Heat") == "Loved Heat! Got any comedies?"
    assert LLMVoice(Voice("Any comedies?")).say(rule, "Heat") == rule
    assert LLMVoice(Voice(LLMError("down"))).say(rule, "Heat") == rule
