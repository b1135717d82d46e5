"""The fused scale: a memory still waiting for its vector scores its lexical part alone, on the same scale
as the rest, so a perfect word match without a vector never outranks a good match on both legs."""

from __future__ import annotations

import pytest

from jean_memory.core.fusion import LEXICAL_WEIGHT, VECTOR_WEIGHT, Legs, SearchOptions, boosts, fused


def test_a_pending_memory_scores_its_lexical_part_alone() -> None:
    pending, _ = fused(Legs(None, 8.0), 8.0, "hybrid")
    both, _ = fused(Legs(0.8, 4.0), 8.0, "hybrid")
    assert pending == pytest.approx(LEXICAL_WEIGHT)
    assert both == pytest.approx(VECTOR_WEIGHT * 0.8 + LEXICAL_WEIGHT * 0.5)
    assert both > pending
    # vector mode: indexed memories by cosine alone; a pending one keeps its hybrid score (read-your-writes)
    assert fused(Legs(0.8, 4.0), 8.0, "vector")[0] == pytest.approx(0.8)
    assert fused(Legs(None, 8.0), 8.0, "vector")[0] == pytest.approx(LEXICAL_WEIGHT)
    assert fused(Legs(0.9, 2.0), 8.0, "lexical")[0] == pytest.approx(0.25)
    assert fused(Legs(-0.3, 0.0), 0.0, "hybrid")[0] == 0.0  # a negative cosine adds nothing


def test_boosts_are_zero_unless_asked_for() -> None:
    assert boosts(SearchOptions(), 0.0, 1.0, 1e9) == (0.0, 0.0)
    options = SearchOptions(recency_boost=0.4, recency_half_life_s=100.0, salience_boost=0.5)
    recency, salience = boosts(options, created_at=900.0, salience=0.6, now=1000.0)
    assert recency == pytest.approx(0.2) and salience == pytest.approx(0.3)
