"""The golden set's replay: the operator's known searches, run on a schedule against the live memories, so
that recall is measured in production and not only in a benchmark.

Every `JM_GOLDEN_INTERVAL_S` each search of the set (`goldenset.py`) goes through the same read use case a
client's `POST /v1/search` calls (caches, faults, admission and all), for its user and tenant; the ids found
in the top `JM_GOLDEN_K` are counted against the ids expected. `jm_golden_hits_total /
jm_golden_expected_total` is recall@k, the recall SLI the burn-rate alert watches. A search that fails (a
503 under overload, an injected fault) is counted as an error and leaves the ids out: availability has its
own SLO, and recall is about what the answers hold.

The searches run one after another, each giving the event loop back before the next: the ranking itself is
the search use case's (off the loop where it is heavy), and a replay never adds more than one search at a
time to what clients send.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

from jean_memory import cooperative
from jean_memory.background import BackgroundTask, every
from jean_memory.core.reads import ReadOps
from jean_memory.goldenset import GoldenQuery
from jean_memory.telemetry.metrics import GoldenMetrics

log = logging.getLogger(__name__)


class GoldenReplay:
    """Replays the golden set every `interval_s`, the first time one interval after the start (so that a
    freshly started service has its users back, and an operator's seeding script its time)."""

    def __init__(
        self, queries: Sequence[GoldenQuery], reads: ReadOps, k: int, interval_s: float, metrics: GoldenMetrics
    ) -> None:
        self._queries = tuple(queries)
        self._reads = reads
        self._k = k
        self._interval_s = interval_s
        self._metrics = metrics
        self._task = BackgroundTask("golden-replay")
        metrics.size.set(len(self._queries))
        metrics.k.set(k)

    def start(self) -> None:
        self._task.start(every(self._interval_s, self.replay, log, "golden set replay"))

    async def close(self) -> None:
        await self._task.close()

    async def replay(self) -> tuple[int, int]:
        """One pass over the set: (ids found, ids expected) of the searches answered."""
        start = time.perf_counter()
        found = expected = errors = 0
        for golden in self._queries:
            try:
                result = await self._reads.search(golden.owner, golden.query, self._k, None)
            except asyncio.CancelledError:
                raise
            except Exception:  # a failed search is an error, not a miss (see the module's docstring)
                errors += 1
                self._metrics.queries.labels("error").inc()
            else:
                ids = {hit.memory.id for hit in result.hits[: self._k]}
                hits = len(golden.expected & ids)
                found += hits
                expected += len(golden.expected)
                self._metrics.queries.labels("ok").inc()
                self._metrics.expected.inc(len(golden.expected))
                self._metrics.hits.inc(hits)
            await cooperative.turn()
        self._metrics.run_duration.set(time.perf_counter() - start)
        self._metrics.last_run.set(time.time())
        if errors:
            log.warning("golden set replay: %d of %d searches failed", errors, len(self._queries))
        return found, expected
