"""One operation of a history: what a client asked, of which replica, when, and what it was told.

Times are wall-clock seconds (`time.time()`), the clock the service's expiry uses too; every process
runs on one machine, so invocation and completion times of different clients compare.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

#: Operations that change state, and those that only read it.
WRITES = frozenset({"add", "patch", "delete", "forget"})
READS = frozenset({"get", "list", "search", "history", "export"})


@dataclass(slots=True)
class Event:
    """`status` is the HTTP status, None when no answer came (a timeout, a refused or reset connection):
    such a write may or may not have happened. `value` is the parsed answer of a 2xx."""

    process: int
    replica: str
    kind: str
    user: str
    mid: str = ""
    arg: str = ""  # an add's or a patch's text, a search's query
    expires_at: float | None = None
    invoked: float = 0.0
    completed: float = 0.0
    status: int | None = None
    value: Any = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def failed(self) -> bool:
        """Definitely did nothing: the service answered with a refusal (4xx), not an error."""
        return self.status is not None and 400 <= self.status < 500


@dataclass
class History:
    """Every client's events, appended as they complete (one lock: clients are threads)."""

    events: list[Event] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, event: Event) -> None:
        with self._lock:
            self.events.append(event)
