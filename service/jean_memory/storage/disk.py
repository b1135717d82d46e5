"""The data folder's disk: how full it is (for the gauges), and telling a full disk from other SQLite errors.

SQLite reports a write that found no space as `sqlite3.OperationalError: database or disk is full`
(`SQLITE_FULL`; its unix layer maps ENOSPC to it), or, when the WAL index could not grow, as
`SQLITE_IOERR_SHMSIZE`. Either way the statement's transaction is rolled back and the connection stays
usable, so the journal refuses the write with 507 and takes the next one as soon as space returns.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from prometheus_client import Gauge

SQLITE_FULL = 13
SQLITE_IOERR_SHMSIZE = 4874


def is_full(exc: BaseException) -> bool:
    """Whether an SQLite error means the disk (or the file's size limit) is full."""
    if not isinstance(exc, sqlite3.Error):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None:
        return "disk is full" in str(exc)
    return code & 0xFF == SQLITE_FULL or code == SQLITE_IOERR_SHMSIZE


def usage(path: Path) -> tuple[int, int]:
    """(free, total) bytes of the filesystem holding `path`, or of its nearest existing parent.

    Free is what an unprivileged writer may use (statvfs `f_bavail`), as `df` reports it.
    """
    candidates = (path,) if path.exists() else path.resolve().parents  # resolved only when it does not exist
    for candidate in candidates:
        if candidate.exists():
            du = shutil.disk_usage(candidate)
            return du.free, du.total
    return 0, 0


def watch(folder: Path, free: Gauge, total: Gauge) -> None:
    """Make the gauges read the folder's filesystem at each scrape (one statvfs call each; the folder's
    path is resolved once, here: resolving it walks every parent with a system call each)."""
    folder = folder.resolve()
    free.set_function(lambda: float(usage(folder)[0]))
    total.set_function(lambda: float(usage(folder)[1]))
