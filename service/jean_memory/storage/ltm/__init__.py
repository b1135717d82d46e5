"""The long-term tier: the durable store of record, behind one small interface."""

from jean_memory.storage.ltm.base import LongTermStore
from jean_memory.storage.ltm.factory import open_store

__all__ = ["LongTermStore", "open_store"]
