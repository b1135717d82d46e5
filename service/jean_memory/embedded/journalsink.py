"""Embedded mode's `VectorSink`: vectors ride on their journal rows, so the shuttle ships each with its
memory; a memory promoted from the store without a vector of this model is backfilled."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from jean_memory.memory import Memory
from jean_memory.storage.journal import Journal


class JournalSink:
    """Embedded mode: vectors ride on their journal rows; promoted memories are backfilled."""

    def __init__(self, journal: Journal, model_id: str, *, store_keeps_vectors: bool) -> None:
        self._journal = journal
        self._model_id = model_id
        self._backfill = store_keeps_vectors

    def store(self, items: Sequence[tuple[Memory, int, np.ndarray]]) -> None:
        self._journal.attach_embeddings(
            [(seq, vector.tobytes(), self._model_id) for _, seq, vector in items],
            row_bytes=sum(memory.approx_bytes() for memory, _, _ in items),
        )

    def backfill(self, memories: Sequence[Memory]) -> None:
        if self._backfill and memories:
            self._journal.backfill_vectors(memories)
