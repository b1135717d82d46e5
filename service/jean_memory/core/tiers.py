"""What reads need from the tiers: the user's space, complete and current, before answering.

Embedded mode (`embedded/tiers.py`): the replica is the only writer, so a resident space is current; a
space that is not loaded is promoted from the store first. Cluster mode (`cluster.tiers`): other
replicas write too, so every read first checks the user's version in PostgreSQL and catches up.
"""

from __future__ import annotations

from typing import Protocol

from jean_memory.storage.stm import UserSpace


class Tiers(Protocol):
    #: True when a record resident here is current by construction (one writer): a get may answer
    #: from it without asking anyone.
    authoritative: bool

    async def current(self, user_id: str) -> tuple[UserSpace, bool]:
        """The user's space, complete and up to date; True when it had to be loaded (a cold read)."""
        ...
