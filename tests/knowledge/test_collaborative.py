"""Item-to-item and user-to-item facts against brute-force counts and a scripted teacher."""
import math

import pytest
import torch

from recai.knowledge.collaborative import CoOccurrence, EmbeddingSimilarity, ItemCFFacts, UserCFFacts


def brute_cosine(interactions, a, b):
    users = {i: set(interactions.user[interactions.item == i].tolist()) for i in (a, b)}
    both = len(users[a] & users[b])
    return both / math.sqrt(len(users[a]) * len(users[b])) if users[a] and users[b] else 0.0


def test_cooccurrence_is_the_normalised_count(interactions):
    co = CoOccurrence(interactions)
    items = list(range(6))
    sim = co.similarity(items, items)
    expected = torch.tensor([[brute_cosine(interactions, a, b) for b in items] for a in items])
    assert torch.allclose(sim, expected)
    assert float(sim[0, 2]) == pytest.approx(2 / math.sqrt(3 * 2))  # Heat (3 users), Ronin (2), together by a and b
    assert co.similarity([], [1]).shape == (0, 1)


def test_item_cf_facts_name_the_closest_history_items(catalog, interactions):
    facts = ItemCFFacts(catalog, CoOccurrence(interactions)).facts(history=[0, 1], candidates=[2, 3, 0])
    assert [f.item for f in facts] == [2, 0]  # Toy Story was never watched with them
    assert facts[0].text.startswith("Ronin (1998) is often watched by the same users as Heat (1995) and Casino")
    assert facts[0].score == pytest.approx(max(brute_cosine(interactions, 0, 2), brute_cosine(interactions, 1, 2)))
    # A candidate the user has is never "similar to itself".
    assert facts[1].text.startswith("Heat (1995) is often watched by the same users as Casino (1995) (")


def test_embedding_similarity_is_cosine():
    v = torch.tensor([[1.0, 0.0], [2.0, 0.0], [0.0, 3.0]])
    sim = EmbeddingSimilarity(v).similarity([0], [1, 2])
    assert torch.allclose(sim, torch.tensor([[1.0, 0.0]]))


class FixedTeacher:
    def __init__(self, scores):
        self.scores = torch.tensor(scores)

    def score(self, histories):
        return self.scores[None].clone()


def test_user_cf_ranks_among_unseen_items(catalog):
    teacher = FixedTeacher([9.0, 1.0, 5.0, 7.0, 3.0, 8.0])  # Heat is seen; the rest rank 5: Alien, Toy Story, ...
    facts = UserCFFacts(catalog, teacher, top=2).facts(history=[0], candidates=[4, 2, 3])
    assert [f.text for f in facts] == ["Toy Story (1995) is ranked #2 of 5 unseen titles for you.",
                                       "Ronin (1998) is ranked #3 of 5 unseen titles for you."]
    assert facts[0].score == 1 / math.log2(3)
    assert UserCFFacts(catalog, teacher).facts(history=[], candidates=[1]) == []
