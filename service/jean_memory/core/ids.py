"""Memory ids for a whole request at once.

`uuid.uuid4()` reads the OS's random source once per id, and that read releases the GIL; under load, each
release can hand the interpreter to a busy thread (the journal, the shuttle, an embedder) for up to its
switch interval before the event loop gets it back. A py-spy profile of 1,000-item batch adds put a
quarter of the batch's time on the event loop in `uuid4`, several times an idle call's cost
(docs/performance.md). One read for the whole batch releases the GIL once.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

_UUID_BYTES = 16


def new_ids(count: int) -> Iterator[str]:
    """`count` random (version 4) UUIDs, as strings, from one read of the OS's random source."""
    raw = os.urandom(_UUID_BYTES * count)
    for start in range(0, len(raw), _UUID_BYTES):
        yield str(uuid.UUID(bytes=raw[start : start + _UUID_BYTES], version=4))
