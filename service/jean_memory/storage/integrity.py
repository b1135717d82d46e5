"""Start-up checks of the embedded mode's files: the service never starts on a damaged journal or store.

A truncated file, a garbage header or a damaged page would otherwise surface later, as a 500 on some
read, or worse, as a service that answers without the memories the damaged pages held. So before
anything is served, each file is opened and checked (`JM_STARTUP_CHECK`: `PRAGMA quick_check` by
default), and a damaged one stops the start with a message naming it and what to do; the process
exits non-zero (uvicorn's start-up failure) before it listens.

What a check cannot see: SQLite keeps no checksums of its pages, so a flipped byte inside a text
value reads back as a different text; and it ignores a WAL frame whose checksum fails, with every
frame after it (a torn write after a crash; the same applies to a damaged WAL).
"""

from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path
from urllib.parse import urlparse

from jean_memory.config import Settings, StartupCheck

log = logging.getLogger(__name__)


class DamagedFile(Exception):
    """A data file is not a readable SQLite database, or its integrity check found damage."""

    def __init__(self, path: Path, problem: str, remedy: str) -> None:
        super().__init__(f"{path}: {problem}. The service will not start on it. {remedy}")
        self.path = path
        self.problem = problem


def data_files(settings: Settings) -> dict[str, Path]:
    """The embedded mode's SQLite files, by role: the journal, and the store when it is SQLite."""
    files = {"journal": settings.journal_path}
    url = settings.effective_ltm_url
    if urlparse(url).scheme == "sqlite":
        rest = url.removeprefix("sqlite://")
        files["store"] = Path("/" + rest.lstrip("/") if rest.startswith("//") else rest)
    return files


def _remedy(role: str, path: Path) -> str:
    aside = f"`mv {path} {path}.damaged` (and any {path.name}-wal and {path.name}-shm beside it)"
    lost = (
        "the memories acknowledged but not yet shipped to the long-term store are then lost"
        if role == "journal"
        else "the service then starts with an empty long-term store"
    )
    return (
        f"Stop here and restore the data folder from a backup (`jean-memory restore BACKUP_DIR --force`), "
        f"or move the file aside to start without it, {aside}: {lost}."
    )


def check_file(path: Path, mode: StartupCheck = StartupCheck.QUICK, role: str = "journal") -> None:
    """Raise `DamagedFile` when `path` exists and is not a sound SQLite database (a missing file is new)."""
    if not path.exists():
        return
    pragma = {StartupCheck.QUICK: "quick_check(20)", StartupCheck.FULL: "integrity_check(20)"}.get(mode)
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=rw", uri=True)  # never creates a file
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # reads the header and the schema
            rows = [r[0] for r in conn.execute(f"PRAGMA {pragma}")] if pragma else ["ok"]
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise DamagedFile(path, f"cannot be read as an SQLite database ({exc})", _remedy(role, path)) from exc
    if rows != ["ok"]:
        found = "; ".join(str(r) for r in rows[:5])
        check = (pragma or "check").split("(")[0]
        raise DamagedFile(path, f"SQLite's {check} found damage ({found})", _remedy(role, path))


def check_length(path: Path, role: str) -> None:
    """Raise `DamagedFile` when the file is shorter than its header says (a truncated copy or disk): the
    header's page count is valid when its "version valid for" field matches the change counter, and a
    WAL database's main file holds at least every page of its last checkpoint."""
    if not path.exists():
        return
    with path.open("rb") as f:
        header = f.read(100)
    if len(header) < 100 or not header.startswith(b"SQLite format 3\x00"):
        return  # not SQLite at all: opening it says so
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages, counter, valid_for = (int.from_bytes(header[i : i + 4], "big") for i in (28, 24, 92))
    size = path.stat().st_size
    if counter == valid_for and pages * page_size > size:
        problem = f"is truncated ({size:,} bytes, its header says {pages * page_size:,})"
        raise DamagedFile(path, problem, _remedy(role, path))


def check_data_files(settings: Settings) -> list[tuple[str, Path]]:
    """Check every file the embedded mode will open; log and raise on the first damaged one. A store larger
    than `startup_check_sync_bytes` is only opened and length-checked here: it is returned, with its role,
    for `check_file` in the background once the service is up."""
    deferred: list[tuple[str, Path]] = []
    for role, path in data_files(settings).items():
        mode = settings.startup_check
        large = path.exists() and path.stat().st_size > settings.startup_check_sync_bytes
        if role == "store" and mode is not StartupCheck.OFF and large:
            deferred.append((role, path))
            mode = StartupCheck.OFF
        try:
            check_file(path, mode, role)
            check_length(path, role)
        except DamagedFile as exc:
            log.critical("%s", exc)
            raise
    return deferred


def check_deferred(files: list[tuple[str, Path]], mode: StartupCheck) -> dict[str, str]:
    """The deferred checks (run in a worker thread): {role: what is wrong} for each damaged file."""
    damaged: dict[str, str] = {}
    for role, path in files:
        start = time.monotonic()
        try:
            check_file(path, mode, role)
        except DamagedFile as exc:
            log.critical("background check: %s", exc)
            damaged[role] = str(exc)
        else:
            log.info("background check of the %s (%s) passed in %.1f s", role, path, time.monotonic() - start)
    return damaged
