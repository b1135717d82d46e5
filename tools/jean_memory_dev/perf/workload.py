"""Synthetic agent text and Zipf popularity, shared by the baseline analyzer and the locustfile."""

from __future__ import annotations

import itertools
import random

WORDS = (
    "meeting",
    "budget",
    "travel",
    "doctor",
    "garden",
    "recipe",
    "birthday",
    "project",
    "invoice",
    "flight",
    "hotel",
    "train",
    "coffee",
    "tea",
    "dog",
    "cat",
    "school",
    "piano",
    "guitar",
    "football",
    "tennis",
    "allergy",
    "peanut",
    "car",
    "bicycle",
    "berlin",
    "paris",
    "london",
    "monday",
    "friday",
    "morning",
    "evening",
    "password",
    "drawer",
    "fridge",
    "passport",
    "insurance",
    "dentist",
    "sister",
    "brother",
    "mother",
    "father",
    "weekend",
    "holiday",
    "beach",
    "mountain",
    "book",
    "movie",
    "concert",
    "museum",
)


def sentence(rng: random.Random | None = None, n: int = 8) -> str:
    pick = (rng or random).choice
    return " ".join(pick(WORDS) for _ in range(n))


#: Distinct queries the load searches by default (JM_LOAD_QUERIES).
LOAD_QUERIES = 500


def query_pool(n: int) -> list[str]:
    """The load's `n` distinct queries, the same in every process (the load generator's and the drill's)."""
    return [sentence(random.Random(i), 4) for i in range(n)]


def zipf_cum_weights(n: int, exponent: float) -> list[float]:
    """Cumulative weights of ranks 1..n under Zipf's law (for `random.choices(cum_weights=...)`)."""
    return list(itertools.accumulate(1.0 / (rank**exponent) for rank in range(1, n + 1)))
