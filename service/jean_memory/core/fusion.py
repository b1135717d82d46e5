"""How a search ranks: the vector and lexical legs fused on one scale, then the opt-in boosts.

The fused score of a memory is `VECTOR_WEIGHT * cosine + LEXICAL_WEIGHT * bm25 / best_bm25`: the cosine
as it is (clipped at 0, so the score keeps its meaning across queries and the quality metric still reads
it), BM25 divided by the best BM25 among the candidates (BM25 has no fixed range). Chosen on the LoCoMo
benchmark (docs/performance.md): this weighting, the min-max one and reciprocal-rank fusion were within
a point of each other, and only this one keeps an absolute scale that `min_score` can mean something on.

A memory still waiting for its vector has no cosine: it scores its lexical part alone, on the same
scale, so it never outranks a better match only because its score came from another scale.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

Mode = Literal["hybrid", "vector", "lexical"]

VECTOR_WEIGHT = 0.6
LEXICAL_WEIGHT = 0.4
#: Candidates each leg contributes at least (more when k is larger): the fusion reranks their union.
POOL = 50
#: The recency boost's default half-life: a memory this old gets half the boost of a new one.
HALF_LIFE_S = 30 * 86400.0


@dataclass(frozen=True, slots=True)
class SearchOptions:
    """A search's ranking options (the API's fields of the same names)."""

    mode: Mode = "hybrid"
    explain: bool = False
    min_score: float | None = None
    recency_boost: float = 0.0
    recency_half_life_s: float = HALF_LIFE_S
    salience_boost: float = 0.0

    def key(self) -> tuple[object, ...]:
        """What of the options changes a result (the result cache's key)."""
        return (self.mode, self.explain, self.min_score, self.recency_boost, self.recency_half_life_s,
                self.salience_boost)  # fmt: skip


DEFAULT = SearchOptions()


@dataclass(slots=True)
class Legs:
    """One candidate's evidence: its cosine (None: no vector yet) and its BM25 (0: no word in common)."""

    vector: float | None
    lexical: float


def weights(mode: Mode) -> tuple[float, float]:
    if mode == "vector":
        return 1.0, 0.0
    if mode == "lexical":
        return 0.0, 1.0
    return VECTOR_WEIGHT, LEXICAL_WEIGHT


def fused(legs: Legs, best_lexical: float, mode: Mode) -> tuple[float, float]:
    """The relevance score, and the lexical leg's normalised part (for `explain`).

    In `vector` mode a memory without a vector is scored as hybrid mode would score it (its lexical part
    alone): read-your-writes must not hide a fresh write, and that score is the lowest a match can get."""
    wv, wl = weights(mode)
    lexical = legs.lexical / best_lexical if best_lexical > 0 else 0.0
    if legs.vector is None:
        return (LEXICAL_WEIGHT if mode == "vector" else wl) * lexical, lexical
    return wv * max(0.0, legs.vector) + wl * lexical, lexical


def boosts(options: SearchOptions, created_at: float, salience: float, now: float) -> tuple[float, float]:
    """The recency and salience boosts (0 unless asked for)."""
    recency = 0.0
    if options.recency_boost:
        age = max(0.0, now - created_at)
        recency = options.recency_boost * math.pow(0.5, age / options.recency_half_life_s)
    return recency, options.salience_boost * salience
