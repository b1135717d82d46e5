"""A big user's filterable fields on disk, position for position with its snapshot's vectors.

A filtered search of a partially resident user must know which memories the filter selects, and their
records are in the store: checking candidates there costs a lookup each, and a filter selecting a few
percent of a million memories needs thousands. So the snapshot build (`storage/large/snapshot.py`) also writes
the fields a filter can name, as columns a search maps read-only and evaluates in a few vector
operations (`filter_masks`):

    <snapshot folder>/fields/times.npy   created_at, updated_at (created_at until an update), expires_at
                                         (NaN: never), float64, one row per position
                             scopes.npy  agent_id and run_id as digests (0: none), uint64
                             keys.json   each metadata key: its slice of the entries, and whether its
                                         numbers are all exact float64
                             positions.npy, kind.npy, number.npy, digest.npy
                                         the entries: every (position, scalar value) of every key, sorted
                                         by key then position

A user with more distinct metadata keys than `MAX_KEYS` gets no columns (its filters are checked on
candidates, as before); so does a snapshot written before them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from jean_memory.filters import FIELDS
from jean_memory.memory import Memory
from jean_memory.storage.large.filter_masks import (
    BOOLEAN,
    EXACT_INTEGER,
    NULL,
    NUMBER,
    OTHER,
    TEXT,
    Entries,
    text_digest,
)

FOLDER = "fields"
#: Past this many distinct metadata keys in one user, no columns are written (their index would be big).
MAX_KEYS = 4096

_EMPTY = Entries(np.empty(0, np.int64), np.empty(0, np.int8), np.empty(0, np.float64), np.empty(0, np.uint64))


def _value(value: Any) -> tuple[int, float, int, bool]:
    """A metadata value's kind, number, digest, and whether the number is exact."""
    if value is None:
        return NULL, 0.0, 0, True
    if isinstance(value, str):
        return TEXT, 0.0, text_digest(value), True
    if isinstance(value, bool):
        return BOOLEAN, float(value), 0, True
    if isinstance(value, int):
        if abs(value) > EXACT_INTEGER:
            return NUMBER, 0.0, 0, False
        return NUMBER, float(value), 0, True
    if isinstance(value, float):
        return NUMBER, value, 0, True
    return OTHER, 0.0, 0, True


class FieldsBuilder:
    """Collects the fields of a snapshot's memories chunk by chunk, in position order."""

    def __init__(self) -> None:
        self._times: list[tuple[float, float, float]] = []
        self._scopes: list[tuple[int, int]] = []
        self._keys: dict[str, tuple[list[int], list[int], list[float], list[int], list[bool]]] = {}
        self._too_many = False

    def add(self, memories: Sequence[Memory]) -> None:
        nan = float("nan")
        for memory in memories:
            position = len(self._times)
            self._times.append((
                memory.created_at,
                memory.updated_at if memory.updated_at is not None else memory.created_at,
                memory.expires_at if memory.expires_at is not None else nan,
            ))  # fmt: skip
            self._scopes.append((
                text_digest(memory.agent_id) if memory.agent_id is not None else 0,
                text_digest(memory.run_id) if memory.run_id is not None else 0,
            ))  # fmt: skip
            if self._too_many:
                continue
            for key, value in memory.metadata.items():
                if key in FIELDS or key.startswith("$"):  # no filter reads these
                    continue
                lists = self._keys.get(key)
                if lists is None and len(self._keys) == MAX_KEYS:
                    self._too_many = True  # no columns for this user: what was gathered goes now
                    self._keys.clear()
                    break
                if lists is None:
                    lists = self._keys[key] = ([], [], [], [], [])
                kind, number, digest, exact = _value(value)
                lists[0].append(position)
                lists[1].append(kind)
                lists[2].append(number)
                lists[3].append(digest)
                lists[4].append(exact)

    def write(self, folder: Path) -> bool:
        """Save the columns (False, nothing written, past `MAX_KEYS` keys)."""
        if self._too_many or not self._times:
            return False
        out = folder / FOLDER
        out.mkdir()
        np.save(out / "times.npy", np.array(self._times, dtype=np.float64))
        np.save(out / "scopes.npy", np.array(self._scopes, dtype=np.uint64))
        keys: dict[str, tuple[int, int, bool]] = {}
        start = 0
        for key, (positions, _, _, _, exact) in self._keys.items():
            keys[key] = (start, start + len(positions), all(exact))
            start += len(positions)
        lists = list(self._keys.values())
        for n, (name, dtype) in enumerate(
            (("positions", np.int64), ("kind", np.int8), ("number", np.float64), ("digest", np.uint64))
        ):
            column = np.fromiter((x for entry in lists for x in entry[n]), dtype=dtype, count=start)
            np.save(out / f"{name}.npy", column)
        (out / "keys.json").write_text(json.dumps(keys))
        return True


class Fields:
    """A snapshot's columns, mapped: `entries(name)` for `filter_masks`."""

    def __init__(self, folder: Path) -> None:
        self._times = np.load(folder / "times.npy", mmap_mode="r")
        self._scopes = np.load(folder / "scopes.npy", mmap_mode="r")
        self._keys: dict[str, list[Any]] = json.loads((folder / "keys.json").read_text())
        self._positions = np.load(folder / "positions.npy", mmap_mode="r")
        self._kind = np.load(folder / "kind.npy", mmap_mode="r")
        self._number = np.load(folder / "number.npy", mmap_mode="r")
        self._digest = np.load(folder / "digest.npy", mmap_mode="r")
        self._fields: dict[str, Entries] = {}

    @property
    def size(self) -> int:
        return len(self._times)

    def entries(self, name: str) -> Entries:
        if name in FIELDS:
            found = self._fields.get(name)
            if found is None:
                found = self._fields[name] = self._field(name)
            return found
        where = self._keys.get(name)
        if where is None:
            return _EMPTY
        start, end, exact = where
        return Entries(
            np.asarray(self._positions[start:end]), np.asarray(self._kind[start:end]),
            np.asarray(self._number[start:end]), np.asarray(self._digest[start:end]), bool(exact),
        )  # fmt: skip

    def _field(self, name: str) -> Entries:
        """A field's entries, made once per snapshot: the times every memory has are views of the mapped
        column (no copy); the rest where present (their positions and values in RAM: `nbytes`)."""
        if name in ("agent_id", "run_id"):
            digests = np.asarray(self._scopes[:, 0 if name == "agent_id" else 1])
            positions = np.flatnonzero(digests)
            n = len(positions)
            kind, number = np.broadcast_to(np.int8(TEXT), (n,)), np.broadcast_to(np.float64(0), (n,))
            return Entries(positions, kind, number, digests[positions])
        values = self._times[:, ("created_at", "updated_at", "expires_at").index(name)]
        if name != "expires_at":
            n = len(values)
            kind = np.broadcast_to(np.int8(NUMBER), (n,))
            return Entries(np.empty(0, np.int64), kind, values, np.broadcast_to(np.uint64(0), (n,)), dense=True)
        positions = np.flatnonzero(~np.isnan(values))
        n = len(positions)
        return Entries(
            positions, np.broadcast_to(np.int8(NUMBER), (n,)), np.asarray(values[positions]),
            np.broadcast_to(np.uint64(0), (n,)),
        )  # fmt: skip

    @property
    def nbytes(self) -> int:
        """RAM the fields' entries made so far hold (mapped columns not counted)."""
        # A sparse field holds its positions and one gathered column: digests (scopes) or times (expiry).
        return sum(2 * e.positions.nbytes for e in self._fields.values() if not e.dense)


def load(folder: Path) -> Fields | None:
    """The snapshot's columns; None when it has none."""
    path = folder / FOLDER
    if not (path / "keys.json").is_file():
        return None
    return Fields(path)
