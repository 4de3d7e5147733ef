"""RecAI's title similarity, exactly: character-trigram TF-IDF cosine over a catalog's titles.

RecLM-eval decides that a generated name "is" a catalog title when this cosine reaches 0.6, so the
evaluator scores replies the same way to stay comparable with published RecAI numbers:

    clean(text)  lowercase, keep only a-z, 0-9 and spaces, collapse runs of whitespace
    grams        every 3-character window of the cleaned text that holds no space
    weights      term count x smoothed idf, idf(g) = ln((1 + N) / (1 + df(g))) + 1 over the N
                 catalog titles (scikit-learn's TfidfVectorizer defaults), rows L2-normalised;
                 grams that no catalog title has are dropped

`recai.text.fuzzy.TitleMatcher` is the better matcher for grounding (typos, moved articles, years);
this one is for RecAI-compatible metrics.
"""
from __future__ import annotations

import math
import re
from collections import Counter
from typing import Sequence

import torch

THRESHOLD = 0.6  # RecLM-eval's sim_threshold


def clean(text: str) -> str:
    text = re.sub(r"[^a-z0-9 ]+", "", str(text).lower())
    return re.sub(r"\s+", " ", text).strip()


def trigrams(text: str) -> list[str]:
    s = clean(text)
    return [s[i:i + 3] for i in range(len(s) - 2) if " " not in s[i:i + 3]]


class TrigramTfidf:
    """Fitted on a corpus of titles; `similarity(a, b)` is the (len(a), len(b)) cosine matrix."""

    def __init__(self, corpus: Sequence[str]):
        if not corpus:
            raise ValueError("TrigramTfidf needs at least one title to fit on")
        self.corpus = list(corpus)
        df: Counter = Counter()
        for title in self.corpus:
            df.update(set(trigrams(title)))
        n = len(self.corpus)
        self.vocab = {g: i for i, g in enumerate(sorted(df))}
        self.idf = torch.tensor([math.log((1 + n) / (1 + df[g])) + 1 for g in sorted(df)])
        self._corpus_vectors: torch.Tensor | None = None

    def vectors(self, texts: Sequence[str]) -> torch.Tensor:
        """(len(texts), vocabulary) L2-normalised tf-idf rows (all-zero for a text with no known gram)."""
        out = torch.zeros(len(texts), len(self.vocab))
        for row, text in enumerate(texts):
            for g, count in Counter(trigrams(text)).items():
                col = self.vocab.get(g)
                if col is not None:
                    out[row, col] = count * self.idf[col]
        return torch.nn.functional.normalize(out, dim=1)

    def similarity(self, a: Sequence[str], b: Sequence[str]) -> torch.Tensor:
        if not a or not b:
            return torch.zeros(len(a), len(b))
        return self.vectors(a) @ self.vectors(b).T

    def best(self, texts: Sequence[str]) -> tuple[list[int], list[float]]:
        """For each text, the corpus title it is closest to (first on ties) and the cosine."""
        if self._corpus_vectors is None:
            self._corpus_vectors = self.vectors(self.corpus)
        if not texts:
            return [], []
        sim = self.vectors(texts) @ self._corpus_vectors.T
        score, index = sim.max(dim=1)  # max returns the first maximal index
        return index.tolist(), score.tolist()

    def same(self, a: str, b: str, threshold: float = THRESHOLD) -> bool:
        """Whether RecLM-eval would count `a` as naming `b`."""
        return float(self.similarity([a], [b])[0, 0]) >= threshold
