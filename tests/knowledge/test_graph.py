"""Knowledge-graph paths: 1, 2 and 3 hops found and phrased, hubs not walked through, files checked."""
import pytest

from recai.errors import DataError
from recai.knowledge.graph import KGFacts, KnowledgeGraph


def test_paths_of_one_two_and_three_hops(catalog, triples, links):
    g = KnowledgeGraph(triples, links, catalog, hub_degree=5)
    found = g.paths(history=[0, 3], candidates=[1, 2, 4, 5])
    sentences = {c: [g.sentence(nodes, rels) for _, nodes, rels in paths] for c, paths in found.items()}
    assert sentences[1][0] == "Heat (1995) and Casino (1995) share an actor."
    assert sentences[2][0] == "Heat (1995) –director– a linked entity –director– a linked entity –sequel– Ronin (1998)."
    assert sentences[4] == ["Toy Story (1995) and Toy Story 2 (1999) are directly linked (sequel)."]
    # Alien shares only the language, a hub of degree 6 > 5: no path at all.
    assert 5 not in found


def test_max_hops_and_hub_degree(catalog, triples, links):
    g = KnowledgeGraph(triples, links, catalog, hub_degree=5)
    assert set(g.paths([0, 3], [1, 2, 4], max_hops=1)) == {4}
    assert set(g.paths([0, 3], [1, 2, 4], max_hops=2)) == {1, 4}
    wide = KnowledgeGraph(triples, links, catalog, hub_degree=100)
    alien = wide.paths([0], [5], max_hops=2)[5]
    assert wide.sentence(*alien[0][1:]) == "Heat (1995) and Alien (1979) share a language."
    with pytest.raises(ValueError, match="max_hops"):
        g.paths([0], [1], max_hops=4)


def test_specific_links_outrank_common_ones(catalog, triples, links):
    g = KnowledgeGraph(triples, links, catalog, hub_degree=100)
    paths = g.paths([0], [1])[1]
    assert "actor" in g.sentence(*paths[0][1:]) and "language" in g.sentence(*paths[-1][1:])
    assert paths[0][0] > paths[-1][0]


def test_no_path_and_unlinked_items_give_no_facts(catalog, triples, links):
    g = KnowledgeGraph(triples[:2], {"10": "e10", "11": "e11"}, catalog)
    assert KGFacts(g).facts([2, 3], [4, 5]) == []  # unlinked history and candidates
    assert KGFacts(g).facts([0], [1])[0].item == 1


def test_recbole_files(tmp_path, catalog, triples, links):
    kg, link = tmp_path / "x.kg", tmp_path / "x.link"
    kg.write_text("head_id:token\trelation_id:token\ttail_id:token\n" +
                  "".join(f"{h}\t{r}\t{t}\n" for h, r, t in triples))
    link.write_text("item_id:token\tentity_id:token\n" + "".join(f"{i}\t{e}\n" for i, e in links.items()))
    g = KnowledgeGraph.load_recbole(kg, link, catalog)
    assert g.n_triples == len(triples) and g.linked_items() == 6
    with pytest.raises(DataError, match="x.missing: file not found"):
        KnowledgeGraph.load_recbole(tmp_path / "x.missing", link, catalog)
    kg.write_text("head\trelation\n")
    with pytest.raises(DataError, match="header field 'head' is not name:type"):
        KnowledgeGraph.load_recbole(kg, link, catalog)
    kg.write_text("head_id:token\trelation_id:token\n")
    with pytest.raises(DataError, match="header lacks \\['tail_id'\\]"):
        KnowledgeGraph.load_recbole(kg, link, catalog)
    kg.write_text("head_id:token\trelation_id:token\ttail_id:token\ne1\tr\n")
    with pytest.raises(DataError, match="x.kg:2: expected 3"):
        KnowledgeGraph.load_recbole(kg, link, catalog)
