"""The tools on a real small domain: what each does to the candidate bus, and bad model input."""
import hashlib

import pytest

from recai.agent.sql_snap import SqlSnapper
from recai.agent.state import CandidateBus, UserProfile
from recai.agent.tools import TOOLS, ToolContext, diversify


@pytest.fixture
def ctx(small_domain):
    d = small_domain
    return ToolContext(d, UserProfile(), SqlSnapper(d.catalog, d.matcher), [])


def run(tool, text, ctx, bus=None):
    bus = bus or CandidateBus(ctx.domain.n_items)
    return bus, TOOLS[tool].run(bus, text, ctx)


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_hard_filter_keeps_exactly_the_matching_items(ctx):
    bus, obs = run("hard_filter", "genres LIKE '%\"Comedy\"%' AND year >= 2000", ctx)
    d = ctx.domain
    expected = [i for i in range(d.n_items)
                if "Comedy" in (d.catalog.item(i)["genres"] or []) and (d.catalog.item(i)["year"] or 0) >= 2000]
    assert bus.items == expected and str(len(expected)) in obs


def test_hard_filter_narrows_the_current_bus_and_keeps_its_order(ctx):
    bus = CandidateBus(ctx.domain.n_items)
    bus.set([5, 3, 1, 0], ranked=True)
    run("hard_filter", "year < 3000", ctx, bus)
    assert bus.items == [5, 3, 1, 0] and bus.ranked


@pytest.mark.parametrize("text", [
    "1); DROP TABLE items; --",
    "1 = 1; DELETE FROM items",
    "idx IN (SELECT idx FROM items) UNION SELECT 1; ATTACH DATABASE 'x' AS y",
])
def test_hostile_conditions_are_refused_and_the_catalog_file_is_unchanged(ctx, text):
    before = digest(ctx.domain.catalog.path)
    bus, obs = run("hard_filter", text, ctx)
    assert obs.startswith("error:") and bus.items is None
    assert digest(ctx.domain.catalog.path) == before


@pytest.mark.parametrize("sql", ["INSERT INTO items(idx, id, title) VALUES (9999, 'x', 'x')",
                                 "UPDATE items SET title = 'x'", "DROP TABLE items", "PRAGMA writable_schema = 1",
                                 "SELECT 1; DELETE FROM items"])
def test_lookup_refuses_writes(ctx, sql):
    before = digest(ctx.domain.catalog.path)
    _, obs = run("lookup", sql, ctx)
    assert obs.startswith("error:")
    assert digest(ctx.domain.catalog.path) == before


def test_lookup_answers_and_snaps(ctx, title_index):
    _, obs = run("lookup", "SELECT title, year FROM items WHERE title = 'toy story'", ctx)
    assert "Toy Story (1995) | 1995" in obs and "snapped" in obs


def test_candidates_resolve_names_and_report_misses(ctx, title_index):
    bus, obs = run("candidates", "Heat; Casino; Zzyzx Qwerty Nonexistent", ctx)
    assert bus.items == [title_index["Heat"], title_index["Casino"]] and "not found" in obs


def test_soft_filter_by_seed_items_excludes_the_seeds_and_ranks(ctx, title_index):
    matrix = title_index["Matrix, The"]
    bus, obs = run("soft_filter", "like: The Matrix", ctx)
    assert bus.ranked and matrix not in bus.items and len(bus.items) == 50
    titles = [ctx.domain.catalog.titles[i] for i in bus.items[:3]]
    assert any("Matrix" in t for t in titles)  # its sequels are nearest


def test_soft_filter_by_text_stays_inside_the_bus(ctx):
    bus = CandidateBus(ctx.domain.n_items)
    bus.set(list(range(20)), ranked=False)
    run("soft_filter", "animated movie for kids", ctx, bus)
    assert set(bus.items) <= set(range(20)) and len(bus.items) == 20


def test_rank_preference_drops_known_and_avoided_items(ctx, title_index):
    ctx.profile.like_item(title_index["Toy Story"])
    ctx.profile.dislike_category("Horror")
    bus, obs = run("rank", "preference", ctx)
    assert "SASRec" in obs
    assert title_index["Toy Story"] not in bus.items
    assert not any("Horror" in (ctx.domain.catalog.item(i)["genres"] or []) for i in bus.items)
    # The order is SASRec's scores from the liked item.
    scores = ctx.domain.ranker.score(histories=[[title_index["Toy Story"]]])[0]
    top = bus.items[:10]
    assert all(scores[a] >= scores[b] for a, b in zip(top, top[1:]))


def test_rank_without_history_falls_back_to_popularity(ctx):
    bus, obs = run("rank", "preference", ctx)
    assert "no history yet" in obs
    pop = ctx.domain.popularity
    assert all(pop[a] >= pop[b] for a, b in zip(bus.items[:20], bus.items[1:20]))


def test_diversity_spreads_categories_over_the_top(ctx):
    bus, _ = run("rank", "popularity", ctx)
    plain = bus.items[:5]
    mixed = diversify(bus.items, ctx.domain)[:5]
    cats = lambda items: len({c for i in items for c in ctx.domain.catalog.item(i)["genres"]})
    assert cats(mixed) >= cats(plain) and sorted(mixed) != sorted(plain)


def test_map_lists_titles_with_attributes(ctx):
    bus = CandidateBus(ctx.domain.n_items)
    bus.set([0, 1], ranked=True)
    _, obs = run("map", "5", ctx, bus)
    lines = obs.splitlines()
    assert len(lines) == 2 and lines[0].startswith("1. " + ctx.domain.catalog.titles[0])
