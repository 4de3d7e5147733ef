"""The plugin's prompts: the knowledge asked for, within budget; bad input degrades and says so."""
import pytest

from recai.knowledge.attributes import AttributeFacts
from recai.knowledge.collaborative import CoOccurrence, ItemCFFacts, UserCFFacts
from recai.knowledge.facts import TokenCounter
from recai.knowledge.graph import KGFacts, KnowledgeGraph
from recai.knowledge.prompt import KnowledgePlugin


class FixedTeacher:
    def score(self, histories):
        import torch

        return torch.arange(6, dtype=torch.float32)[None]  # Alien first, then Toy Story 2, ...


@pytest.fixture()
def plugin(catalog, interactions, triples, links):
    return KnowledgePlugin(catalog, attributes=AttributeFacts(catalog),
                           item_cf=ItemCFFacts(catalog, CoOccurrence(interactions)),
                           user_cf=UserCFFacts(catalog, FixedTeacher()),
                           kg=KGFacts(KnowledgeGraph(triples, links, catalog, hub_degree=5)), budget=400)


def user_text(p):
    return p.messages[-1]["content"]


def test_each_kind_lands_under_its_heading(plugin):
    p = plugin.prompt([0], [1, 2, 4], kinds=("attributes", "item_cf", "user_cf", "kg"))
    text = user_text(p)
    assert "I watched these movies, oldest first: Heat (1995)." in text
    assert "About the candidates:\n- Casino (1995): Crime, Drama." in text
    assert "Watched together by other users:\n- Ronin (1998) is often watched" in text
    assert "Toy Story 2 (1999) is ranked #2 of 5 unseen titles for you." in text
    assert "Heat (1995) and Casino (1995) share an actor." in text
    assert text.index("Facts that may help") < text.index("Candidates:\n- Casino (1995)\n- Ronin (1998)")
    assert p.candidates == [1, 2, 4] and p.titles == ["Casino (1995)", "Ronin (1998)", "Toy Story 2 (1999)"]
    assert "Facts" not in user_text(plugin.prompt([0], [1, 2], kinds=()))


def test_budget_holds_in_the_prompt(plugin):
    for budget in (0, 10, 25, 60, 400):
        plugin.budget = budget
        p = plugin.prompt([0, 3], [1, 2, 4, 5])
        assert p.selection.tokens <= budget
        assert plugin.counter(p.selection.text) == p.selection.tokens


def test_unknown_candidates_and_history_items_are_left_out_and_named(plugin):
    p = plugin.prompt([0, 999, "nope"], [1, "12", 4242, "ghost"], kinds=("attributes",))
    assert p.candidates == [1, 2]  # "12" is Ronin's id
    assert p.notes == ["left out 2 history items not in the catalog: 999, 'nope'",
                       "left out 2 candidates not in the catalog: 4242, 'ghost'"]
    p = plugin.prompt([0], ["ghost"])
    assert p.candidates == [] and "(none of the given candidates is in the catalog)" in user_text(p)
    assert p.ranked("1. Heat") == []


def test_no_history_drops_what_needs_one_and_says_so(plugin):
    p = plugin.prompt([], [1, 2])
    text = user_text(p)
    assert "Nothing is known yet about which movies I watched." in text
    assert "About the candidates" in text and "ranked #" not in text and "share" not in text
    assert any("no history" in n for n in p.notes)


def test_a_kind_that_finds_nothing_is_mentioned(plugin):
    text = user_text(plugin.prompt([5], [3], kinds=("kg", "item_cf")))  # Alien and Toy Story: nothing links them
    assert "(No knowledge-graph path links your movies to these candidates.)" in text
    assert "(No other users watched these candidates together with your movies.)" in text


def test_kinds_are_checked(plugin, catalog):
    with pytest.raises(ValueError, match="unknown knowledge kinds \\['wiki'\\]"):
        plugin.prompt([0], [1], kinds=("wiki",))
    bare = KnowledgePlugin(catalog, attributes=AttributeFacts(catalog), counter=TokenCounter())
    with pytest.raises(ValueError, match="has no kg extractor \\(it has: attributes\\)"):
        bare.prompt([0], [1], kinds=("kg",))


def test_ranked_reads_the_reply(plugin):
    p = plugin.prompt([0], [1, 2, 4])
    assert p.ranked("1. Toy Story 2\n2. Casino") == [4, 1, 2]
