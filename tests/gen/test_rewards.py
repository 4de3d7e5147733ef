"""RecLM-gen rewards: per item, per list, and placed on the tokens where items end."""
import math

import pytest

from recai.gen.grounding import ground
from recai.gen.rewards import RewardConfig, item_rewards, list_reward, token_ends, token_rewards
from recai.text.fuzzy import TitleMatcher

TITLES = ["Heat (1995)", "Casino (1995)", "Goodfellas (1990)", "Matrix, The (1999)", "Alien (1979)"]
CATS = [["Crime"], ["Crime", "Drama"], ["Crime"], ["Sci-Fi"], ["Sci-Fi", "Horror"]]


@pytest.fixture(scope="module")
def matcher():
    return TitleMatcher(TITLES)


def test_item_rewards_follow_reclm_gen(matcher):
    g = ground("1. Heat\n2. Casino\n3. Heat\n4. Nope Nothing (2040)\n5. Alien\n6. Goodfellas", matcher,
               history=[4], count=3)
    r = item_rewards(g, target=1, teacher_rank={0: 0, 2: 150})
    assert r == [1 / math.log2(2), 1.0, -1.0, -1.0, -1.0, 0.0]  # Goodfellas ranked beyond teacher_top
    assert list_reward(g, 3) == 1.0  # Heat, Casino and Goodfellas are valid: three asked, three given
    assert list_reward(g, 5) == -2.0  # two short, each costs as much as a bad item
    assert list_reward(g, 2) == 0.0  # the surplus item already costs its own -1
    assert list_reward(g, 5, RewardConfig(missing=-0.5)) == -1.0
    assert list_reward(ground("1. Heat\n2. Casino", matcher), 2) == 1.0 and list_reward(g, None) == 0.0


def test_category_control_fills_the_requested_quota(matcher):
    g = ground("1. Heat\n2. Matrix\n3. Casino", matcher)
    r = item_rewards(g, teacher_rank={}, item_categories=CATS, want={"Crime": 1, "Sci-Fi": 1},
                     cfg=RewardConfig(category_hit=0.5, category_miss=-0.5))
    assert r == [0.5, 0.5, -0.5]  # the second crime movie is beyond the crime quota


def test_rewards_land_on_the_token_that_ends_each_item(matcher):
    text = "1. Heat\n2. Casino"
    g = ground(text, matcher)
    ends = [2, 7, 8, 10, 17]  # "1.", " Heat", "\n", "2.", " Casino"
    assert token_rewards(ends, g, [0.3, 0.7], final=2.0) == [0.0, 0.3, 0.0, 0.0, 2.7]
    assert token_rewards([], g, [0.3, 0.7], 1.0) == []


def test_token_ends_follow_the_decoded_text(smollm2_gguf):
    from recai.text import Tokenizer

    tok = Tokenizer.from_pretrained(smollm2_gguf)
    ids = tok.encode("1. Heat (1995)\n2. Casino (1995)", add_bos=False)
    assert token_ends(tok, ids) == [len(tok.decode(ids[:k])) for k in range(1, len(ids) + 1)]
    assert token_ends(tok, ids)[-1] == len("1. Heat (1995)\n2. Casino (1995)")
