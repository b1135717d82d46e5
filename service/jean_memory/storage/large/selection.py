"""What a filter selects of a partially resident user, and how far its snapshot is searched for it.

A filtered search of a big user does not list the ids the filter selects (a few percent of a million):
`Selection` carries the snapshot's positions as a mask and the ids of the memories changed since the
snapshot, and the snapshot's vector search (`LayeredIndex`) scores only the selected, in as many of its
inverted lists as `filtered_probes` says.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: A filter's selection is searched in more inverted lists than an unfiltered search: the best of a few
#: percent of the user lie farther from the query, in lists further down. `filtered_probes`; measured in
#: docs/performance.md ("A big user's search: words and filters").
FILTERED_PROBES_MIN_FACTOR = 2.0
FILTERED_PROBES_SHARE = 0.2
#: Every list is searched (exact) where the probed ones would hold fewer than this many times the
#: selected vectors asked for.
SELECTED_PER_WANTED = 8


def filtered_probes(lists: int, probes: int, chosen: int, count: int, want: int) -> int:
    """Inverted lists to search for the best `want` of `chosen` selected vectors out of `count`: the
    unfiltered search's `probes` times `max(2, sqrt(0.2 / share))` (twice as many at 5 to 20 %, about 4.5
    times at 1 %), and all of them where those would hold too few of the selected."""
    share = chosen / max(1, count)
    probes = min(lists, round(probes * max(FILTERED_PROBES_MIN_FACTOR, math.sqrt(FILTERED_PROBES_SHARE / share))))
    return probes if chosen * probes / lists >= SELECTED_PER_WANTED * want else lists


@dataclass(frozen=True, slots=True)
class Selection:
    """What a filter (with the scope and expiry) selects of a partially resident user, without listing
    the snapshot's ids: its positions as a mask (those changed since left out: their current version is
    among `changed`), and the ids of the memories changed since that it selects."""

    base: np.ndarray
    changed: list[str]
