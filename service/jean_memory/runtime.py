"""The seam between the composition root and the two modes: what every mode is given, and what it gives.

The composition root (`container.py`) builds what both modes share (the short-term tier, the embedding
worker, the caches, the limits, the fault switches), hands it to one mode's runtime, and from then on
talks to the runtime only through `ModeRuntime`: the use cases it built, its start and close in the
order its parts need, its readiness checks and its reaction to fault switches. The mode is chosen once.

    embedded (`embedded/runtime.py`): SQLite journal, memory shuttle, long-term store, one writer
    cluster  (`cluster/runtime.py`):  PostgreSQL group commit, version checks, shared embedding queue
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from jean_memory.config import Settings
from jean_memory.core.admission import ConcurrencyLimit
from jean_memory.core.caches import IdFilter
from jean_memory.core.dedupe import Deduplicator
from jean_memory.core.gate import UserGate
from jean_memory.core.history import HistoryOps
from jean_memory.core.tiers import Tiers
from jean_memory.core.writes import WriteOps
from jean_memory.embedding.worker import EmbeddingWorker
from jean_memory.faults import Faults, FaultSpec
from jean_memory.gcpolicy import GcPolicy
from jean_memory.storage.stm import ShortTermTier
from jean_memory.telemetry.core import Telemetry


@dataclass(frozen=True, slots=True, kw_only=True)
class Shared:
    """What the composition root builds once for either mode."""

    settings: Settings
    telemetry: Telemetry
    faults: Faults
    stm: ShortTermTier
    worker: EmbeddingWorker
    dedupe: Deduplicator
    gate: UserGate
    gc: GcPolicy
    read_limit: ConcurrencyLimit
    write_limit: ConcurrencyLimit


class ModeRuntime(Protocol):
    """One mode's parts, as the composition root and the use cases see them."""

    writes: WriteOps
    tiers: Tiers
    history: HistoryOps
    #: The id filter reads consult before asking the store (disabled where other writers exist).
    ids: IdFilter

    async def start(self) -> None:
        """Start the mode's parts (the embedding worker among them) in the order they depend on."""
        ...

    async def close(self) -> None:
        """Stop them in the reverse order, draining what must not be lost."""
        ...

    def readiness(self) -> dict[str, bool]:
        """The mode's checks for `/readyz` (the composition root adds its own)."""
        ...

    def apply_faults(self, spec: FaultSpec) -> None:
        """Fire drills: the switches that reach inside the mode's parts (most faults wrap their edges)."""
        ...
