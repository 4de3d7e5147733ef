"""Fuzzy title matching: map free text ("the matrx (1999)") to a catalog item, or to no item.

Two stages, both batched in torch:
1. Retrieval: every title key is a tf-idf vector of its character 2- and 3-grams, L2-normalised.
   A batch of queries is scored against all keys at once: the most frequent grams as one dense
   matmul, the long tail as a sparse x sparse product. Keys of the query's year get a bonus, and
   `torch.topk` keeps the best `candidates` keys per query.
2. Rerank: each candidate gets an edit similarity to the query (1 - optimal string alignment
   distance / longer length, all pairs of the batch at once, `recai.text.edit_distance`) and, when
   it is longer than the query, a partial one (the query against its closest run of whole words,
   discounted by how much of the title is left out: "Dr. Strangelove" for the 70-letter title). Its
   score is the best of these and the cosine: edits see typos, the cosine sees moved, extra or
   missing words. A year that disagrees with the query's, or a hit on an alternate title rather than
   the main one, scales the score down.

Titles and queries are normalised by `recai.text.normalize`: case, accents, punctuation, a trailing
"(1995)", articles moved behind a comma ("Matrix, The"), and parenthesised alternate titles
("Seven (a.k.a. Se7en)"), each indexed as an extra key of the same item.

The constants below were chosen on bench/fuzzy.py (seed 0, checked on seeds 1 and 2): see its report.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any, Sequence

import torch

from recai.text.edit_distance import encode, osa_distance
from recai.text.normalize import parse_title

# Below this score `match` answers None. On bench/fuzzy.py it keeps 97.7% of the correct answers to
# corrupted titles, and accepts 0.8% of random-letter strings and 8% of real titles missing from the
# catalog (mostly near namesakes: "Spider-Man (2002)" -> "Spider (2002)"); see its threshold table.
DEFAULT_THRESHOLD = 0.6
NGRAMS = (2, 3)  # character n-gram sizes of the retrieval vectors
# Retrieval adds this to the cosine of keys whose year is the query's. Without it a short title with
# two typos ("Fre (1996)") loses its item from the top 10 to titles sharing its few grams: recall@10
# went from 97.8% to 99.2% on the bench's queries.
YEAR_BONUS = 0.3
DENSE_GRAMS = 256  # at most this many of the most frequent grams are scored by one dense matmul
# Partial similarity = PARTIAL_WEIGHT * (1 - distance / |query|) * (|query| / |title|) ** PARTIAL_POWER:
# a query naming a third of a title scores at most 0.81. On the bench this lifted short names (the
# unique part of a title before or after its colon) from 62% to 79% found, for 0.1% of accuracy on
# corrupted full titles and 3% more out-of-catalog titles accepted; a bigger weight trades further.
PARTIAL_WEIGHT, PARTIAL_POWER = 0.9, 0.1
ALTERNATE_PENALTY = 0.98  # a hit on an alternate title loses ties to a main title
# Factors when the query names another year than the item's. A slip (one year off, or two digits
# swapped: 1939 for 1993) costs little; any other year most often names a remake, which should fall
# below the threshold ("Stagecoach (1966)" is not the 1939 film).
NEAR_YEAR_PENALTY, YEAR_PENALTY = 0.9, 0.5


@dataclass(frozen=True)
class Match:
    """One catalog item found for a query; score in [0, 1], higher is closer."""

    index: int  # position in the titles given to TitleMatcher
    id: Any  # ids[index], or the index when no ids were given
    title: str
    score: float


def _grams(key: str) -> list[str]:
    """Character n-grams of " key "; repeats count as term frequency."""
    padded = f" {key} "
    return [padded[i:i + n] for n in NGRAMS for i in range(len(padded) - n + 1)]


def _year_slip(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Whether years a and b (same shape) differ by one, or by a swap of two neighbouring digits."""
    scale = torch.tensor([1000, 100, 10, 1])
    da, db = a[..., None] // scale % 10, b[..., None] // scale % 10  # (..., 4) digits
    differ = da != db
    swapped = (da[..., :-1] == db[..., 1:]) & (da[..., 1:] == db[..., :-1]) & differ[..., :-1] & differ[..., 1:]
    return ((a - b).abs() <= 1) | ((differ.sum(-1) == 2) & swapped.any(-1))


class _TfidfIndex:
    """tf-idf vectors of K keys with their years; `scores` rates a batch of queries against all keys."""

    def __init__(self, keys: list[str], years: list[int]):
        vocab: dict[str, int] = {}
        rows = [[vocab.setdefault(g, len(vocab)) for g in _grams(k)] for k in keys]
        self.vocab, K, V = vocab, len(keys), len(vocab)
        df = torch.bincount(torch.tensor([g for r in rows for g in set(r)]), minlength=V).float()
        # Smoothed idf as in scikit-learn, log((1 + K) / (1 + df)) + 1; unseen grams count with df = 0.
        self.idf = torch.log((1 + K) / (1 + df)) + 1
        self.unseen_idf = math.log(1 + K) + 1
        r, c, w = self._weights(rows, [0.0] * K)
        # The few grams in most titles (" th", "the", "he ") make a sparse product nearly dense:
        # score them as a dense (Vd, K) block, and only the long tail as sparse (V, K).
        order = torch.argsort(df, descending=True)[:DENSE_GRAMS]
        self.dense_of = torch.full((V,), -1).index_put_((order,), torch.arange(len(order)))
        dense = self.dense_of[c] >= 0
        self.dense = torch.zeros(len(order), K).index_put_((self.dense_of[c[dense]], r[dense]), w[dense])
        # Each year is one more sparse row, worth YEAR_BONUS to the keys of that year.
        self.year_row = {y: V + i for i, y in enumerate(sorted(set(years) - {0}))}
        year_r = torch.tensor([self.year_row[y] for y in years if y], dtype=torch.long)
        year_k = torch.tensor([k for k, y in enumerate(years) if y], dtype=torch.long)
        self.sparse = torch.sparse_coo_tensor(
            torch.stack([torch.cat([c[~dense], year_r]), torch.cat([r[~dense], year_k])]),
            torch.cat([w[~dense], torch.full((len(year_k),), YEAR_BONUS)]),
            (V + len(self.year_row), K), check_invariants=False).coalesce()

    def _weights(self, rows: list[list[int]], unseen_sq: list[float]):
        """COO (row, gram, weight) of L2-normalised tf-idf rows; unseen_sq adds unseen grams to the norm."""
        V = len(self.idf)
        r = torch.repeat_interleave(torch.arange(len(rows)), torch.tensor([len(x) for x in rows], dtype=torch.long))
        c = torch.tensor([g for x in rows for g in x], dtype=torch.long)
        cell, tf = torch.unique(r * V + c, return_counts=True)
        r, c = cell // V, cell % V
        w = tf * self.idf[c]
        norm = torch.tensor(unseen_sq, dtype=torch.float).index_add_(0, r, w * w).sqrt().clamp(min=1e-12)
        return r, c, w / norm[r]

    def scores(self, keys: list[str], years: list[int]) -> torch.Tensor:
        """Cosine + YEAR_BONUS * [same year] (Q, K) of folded query keys and years (0: none) vs every key."""
        rows, unseen = [], []
        for k in keys:
            grams = _grams(k)
            rows.append([self.vocab[g] for g in grams if g in self.vocab])
            unseen.append(sum(g not in self.vocab for g in grams) * self.unseen_idf ** 2)
        r, c, w = self._weights(rows, unseen)
        dense = self.dense_of[c] >= 0
        q_dense = torch.zeros(len(keys), self.dense.shape[0]).index_put_((r[dense], self.dense_of[c[dense]]),
                                                                        w[dense])
        year_q = torch.tensor([q for q, y in enumerate(years) if y in self.year_row], dtype=torch.long)
        year_r = torch.tensor([self.year_row[y] for y in years if y in self.year_row], dtype=torch.long)
        q_sparse = torch.sparse_coo_tensor(
            torch.stack([torch.cat([r[~dense], year_q]), torch.cat([c[~dense], year_r])]),
            torch.cat([w[~dense], torch.ones(len(year_q))]), (len(keys), self.sparse.shape[0]),
            check_invariants=False)
        with warnings.catch_warnings():  # torch notes that its sparse kernels are in beta, once per process
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
            tail = torch.sparse.mm(q_sparse, self.sparse).coalesce()  # (Q, K), sparse
        return (q_dense @ self.dense).index_put_(tuple(tail.indices()), tail.values(), accumulate=True)


class TitleMatcher:
    """Maps free-text titles to items of a catalog.

    Args:
        titles: catalog titles in item order, e.g. "Matrix, The (1999)"; duplicates are allowed.
        ids: optional item ids (same length), returned as `Match.id`.
        candidates: keys kept per query by the retrieval stage for reranking (10 found as many
            right answers on the bench as 30; the true item is among them for 99% of its queries).
    Raises ValueError for an empty title list, ids of another length, or titles with no letter or
    digit at all; TypeError for a title that is not a string.

        matcher = TitleMatcher(titles, ids=movie_ids)
        matcher.match("the matrx (1999)")  # Match(index=..., id=2571, title='Matrix, The (1999)', score=0.9)
        matcher.match("qwzx")               # None
    """

    def __init__(self, titles: Sequence[str], ids: Sequence | None = None, candidates: int = 10):
        if len(titles) == 0:
            raise ValueError("TitleMatcher needs at least one title, got an empty list")
        if ids is not None and len(ids) != len(titles):
            raise ValueError(f"got {len(ids)} ids for {len(titles)} titles")
        if candidates < 1:
            raise ValueError(f"candidates must be >= 1, got {candidates}")
        self.titles = list(titles)
        self.ids = list(ids) if ids is not None else None
        keys, key_item, key_alt, key_years = [], [], [], []
        for i, title in enumerate(self.titles):
            if not isinstance(title, str):
                raise TypeError(f"title {i} is not a string: {title!r}")
            parsed = parse_title(title)
            # Main title first, then alternates, then all of them together (as a query may spell them).
            own = [parsed.main, *parsed.alternates] + ([parsed.full] if parsed.alternates else [])
            for key in dict.fromkeys(k for k in own if k):
                keys.append(key)
                key_item.append(i)
                key_alt.append(key in parsed.alternates)
                key_years.append(parsed.year or 0)
        if not keys:
            raise ValueError(f"no title has a letter or digit to match on, e.g. {self.titles[0]!r}")
        self._key_item = torch.tensor(key_item)
        self._key_weight = torch.where(torch.tensor(key_alt), ALTERNATE_PENALTY, 1.0)
        self._key_years = torch.tensor(key_years)  # 0: no year
        self._key_codes, self._key_lens = encode(keys)
        self._index = _TfidfIndex(keys, key_years)
        self.candidates = candidates

    def _rerank(self, keys: list[str], years: torch.Tensor, cand: torch.Tensor, cos: torch.Tensor) -> torch.Tensor:
        """Scores (Q, C) in [0, 1] of candidate keys cand (Q, C) with cosines cos (Q, C)."""
        Q, C = cand.shape
        q_codes, q_lens = encode(keys)
        pairs = torch.stack([torch.arange(Q).repeat_interleave(C), cand.reshape(-1)], 1)  # (Q * C, 2)
        q_len, k_len = q_lens[pairs[:, 0]], self._key_lens[pairs[:, 1]]
        dist = osa_distance(q_codes, q_lens, self._key_codes, self._key_lens, pairs)
        edit = 1 - dist / torch.maximum(q_len, k_len).clamp(min=1)
        # Partial similarity only where the title is the longer string; elsewhere it cannot beat edit.
        longer = k_len > q_len
        part = torch.zeros(Q * C)
        if longer.any():
            d = osa_distance(q_codes, q_lens, self._key_codes, self._key_lens, pairs[longer], partial=True)
            ql, kl = q_len[longer], k_len[longer]
            part[longer] = PARTIAL_WEIGHT * (1 - d / ql.clamp(min=1)) * (ql / kl) ** PARTIAL_POWER
        score = torch.maximum(cos, torch.maximum(edit, part).view(Q, C)) * self._key_weight[cand]
        # Year clashes are few: test only those pairs for a slip, not the whole (Q, C) grid.
        item_years = self._key_years[cand]
        clash = ((years[:, None] > 0) & (item_years > 0) & (item_years != years[:, None])).nonzero(as_tuple=True)
        slip = _year_slip(item_years[clash], years[clash[0]])
        score[clash] *= torch.where(slip, NEAR_YEAR_PENALTY, YEAR_PENALTY)
        return score.clamp(0, 1)

    def _rank(self, queries: Sequence[str], candidates: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Items (Q, C) by descending score (Q, C); an item's repeats and empty queries score -1."""
        for i, q in enumerate(queries):
            if not isinstance(q, str):
                raise TypeError(f"query {i} is not a string: {q!r}")
        parsed = [parse_title(q) for q in queries]
        keys = [p.full for p in parsed]
        years = torch.tensor([p.year or 0 for p in parsed], dtype=torch.long)
        scores = self._index.scores(keys, years.tolist())  # (Q, K)
        top = torch.topk(scores, min(candidates, scores.shape[1]), dim=1)
        cand = top.indices
        same_year = (self._key_years[cand] == years[:, None]) & (years[:, None] > 0)
        cos = top.values - YEAR_BONUS * same_year
        score = self._rerank(keys, years, cand, cos)
        # Equal scores (a remake named without its year) go to the earlier catalog item.
        items, order = self._key_item[cand].sort(dim=1, stable=True)
        score, by_score = score.gather(1, order).sort(dim=1, descending=True, stable=True)
        items = items.gather(1, by_score)
        # An item reached through several keys keeps its best; an empty query matches nothing.
        repeat = (items[:, :, None] == items[:, None, :]).tril(-1).any(2)
        empty = torch.tensor([not k for k in keys])[:, None]
        score = score.masked_fill(repeat | empty, -1.0)
        score, order = score.sort(dim=1, descending=True, stable=True)
        return items.gather(1, order), score

    def _match(self, index: int, score: float) -> Match:
        return Match(index, self.ids[index] if self.ids is not None else index, self.titles[index], score)

    def match_many(self, queries: Sequence[str], threshold: float = DEFAULT_THRESHOLD,
                   batch_size: int = 512) -> list[Match | None]:
        """Best item per query, or None where its score is below threshold or the query is empty.

        Queries are scored batch_size at a time; memory is about batch_size x (number of keys) floats.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        out: list[Match | None] = []
        for start in range(0, len(queries), batch_size):
            items, score = self._rank(queries[start:start + batch_size], self.candidates)
            for i, s in zip(items[:, 0].tolist(), score[:, 0].tolist()):
                out.append(self._match(i, s) if s >= 0 and s >= threshold else None)
        return out

    def match(self, query: str, threshold: float = DEFAULT_THRESHOLD) -> Match | None:
        """Best item for one query, or None below threshold (an empty query gives None)."""
        return self.match_many([query], threshold)[0]

    def top(self, query: str, k: int = 5) -> list[Match]:
        """Up to k best items, best first, whatever their score (fewer for an empty query or catalog)."""
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        items, score = self._rank([query], max(k, self.candidates))
        return [self._match(i, s) for i, s in zip(items[0, :k].tolist(), score[0, :k].tolist()) if s >= 0]
