"""Online backup and restore of the embedded mode's files (`jean-memory backup DEST`, `restore SRC`).

**Backup** copies `journal.db` and, when the store is SQLite, `ltm.db`, with SQLite's online backup
API, from a process of its own while the service runs. Each file is read inside one read transaction
held across all the steps, so the copy is one consistent snapshot even as the service keeps writing
(a WAL reader blocks no writer; without the held transaction every write by the service would restart
the copy from the first page). Pages are copied `pages` at a time with a short pause between steps,
so the copy competes gently for the disk. While it runs the service's WAL cannot be checkpointed past
the snapshot, so it grows by what is written meanwhile, and shrinks again afterwards.

The journal is copied first, the store second: a memory acknowledged before the backup started is in
the journal's snapshot, or was shipped (committed to the store, then deleted from the journal) before
that snapshot was taken, so it is in the store's later snapshot. A memory shipped in between is in
both; the journal's copy ships again after a restore, harmlessly (writes are idempotent).

**Restore** reads the manifest as untrusted input (a backup may come from anywhere): its shape is
validated, each role is `journal` or `store`, and each file is a plain name inside the backup folder
(`../outside/victim.db` is refused, not followed). It checks every file (its SHA-256 against the
manifest, then SQLite's `integrity_check`), refuses a data folder that is not empty unless forced,
refuses one a running service holds even when forced (`storage/datadir.py`), and moves each file into
place with a rename, removing any `-wal`/`-shm` of the file it replaces (a stale WAL would be
replayed into the restored file). The service must be stopped while it runs.

    jean-memory backup /backups/2026-11-25          # service running, JM_* as for `serve`
    jean-memory restore /backups/2026-11-25 --force # service stopped
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StrictStr, ValidationError

from jean_memory import __version__
from jean_memory.config import Settings
from jean_memory.storage.datadir import LOCK_FILES, tighten
from jean_memory.storage.integrity import data_files
from jean_memory.storage.ltm.sqlite_reader import readonly_connection

MANIFEST = "backup.json"


class BackupError(Exception):
    """A backup or a restore cannot proceed; the message says why and what to do."""


_PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


def _plain_name(name: str) -> str:
    """A file's name in a backup: one plain name, no folder, no `..`, not hidden (the backup's own
    temporary files are hidden)."""
    if not _PLAIN_NAME.fullmatch(name) or ".." in name:
        raise ValueError("must be a plain file name in the backup folder (letters, digits, . _ -; no folder)")
    return name


FileName = Annotated[StrictStr, AfterValidator(_plain_name)]
Number = StrictInt | StrictFloat


class ManifestFile(BaseModel):
    """One file of a backup, as `backup` describes it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: FileName
    bytes: Annotated[StrictInt, Field(ge=0)]
    rows: Annotated[StrictInt, Field(ge=0)]
    sha256: Annotated[StrictStr, Field(pattern=r"^[0-9a-f]{64}$")]
    seconds: Number


class Manifest(BaseModel):
    """`backup.json`. Unknown top-level keys are tolerated (a newer backup may add some); the files are not."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    version: StrictStr
    started_at: Number
    finished_at: Number
    store: StrictStr
    files: dict[Literal["journal", "store"], ManifestFile] = Field(min_length=1)


def read_manifest(src: Path) -> dict[str, Any]:
    """The backup's manifest, validated; BackupError naming each problem otherwise."""
    try:
        raw = json.loads((src / MANIFEST).read_text())
    except (OSError, ValueError) as exc:
        raise BackupError(f"{src} is not a backup made by `jean-memory backup` ({exc})") from exc
    try:
        manifest = Manifest.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'the manifest'}: {e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors(include_input=False)
        )
        raise BackupError(f"{src / MANIFEST} is not a valid backup manifest: {problems}") from None
    if "journal" not in manifest.files:
        raise BackupError(f"{src / MANIFEST} is not a valid backup manifest: files: no journal")
    names = [f.name for f in manifest.files.values()]
    if len(set(names)) != len(names):
        raise BackupError(f"{src / MANIFEST} is not a valid backup manifest: files: two roles name one file")
    return manifest.model_dump()


@dataclass(frozen=True, slots=True)
class Copied:
    role: str
    name: str
    bytes: int
    rows: int
    seconds: float


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _rows(conn: sqlite3.Connection, role: str) -> int:
    table = "journal" if role == "journal" else "memories"
    return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def _integrity(path: Path) -> None:
    try:
        with readonly_connection(path) as conn:
            rows = [r[0] for r in conn.execute("PRAGMA integrity_check(20)")]
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path}: not a readable SQLite database ({exc})") from exc
    if rows != ["ok"]:
        raise BackupError(f"{path}: integrity_check found damage: {'; '.join(map(str, rows[:5]))}")


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _copy_online(src: Path, dst: Path, role: str, pages: int, pause_s: float) -> Copied:
    start = time.perf_counter()
    source = sqlite3.connect(f"{src.resolve().as_uri()}?mode=rw", uri=True, isolation_level=None)
    target = sqlite3.connect(dst)
    try:
        source.execute("BEGIN")
        rows = _rows(source, role)  # starts the read transaction: the snapshot every step copies from
        source.backup(target, pages=pages, progress=lambda *_: time.sleep(pause_s) if pause_s else None)
        source.execute("COMMIT")
        target.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
    finally:
        source.close()
        target.close()
    with dst.open("rb") as f:
        os.fsync(f.fileno())
    return Copied(role, src.name, dst.stat().st_size, rows, time.perf_counter() - start)


def backup(settings: Settings, dest: Path, *, pages: int = 1024, pause_s: float = 0.002) -> dict[str, Any]:
    """Copy the embedded mode's files into `dest` (a new or empty folder); returns the manifest written."""
    if settings.cluster:
        raise BackupError("cluster mode keeps nothing local: back up PostgreSQL (docs/backup.md)")
    dest.mkdir(parents=True, exist_ok=True, mode=0o700)
    if any(dest.iterdir()):
        raise BackupError(f"{dest} is not empty: back up into a new folder")
    files = data_files(settings)
    if not files["journal"].exists():
        raise BackupError(f"{files['journal']} does not exist: is JM_DATA_DIR the service's data folder?")
    started = time.time()
    copied: list[Copied] = []
    for role in ("journal", "store"):  # this order: see the module's docstring
        if role not in files:
            continue
        src = files[role]
        partial = dest / f".{src.name}.partial"
        done = _copy_online(src, partial, role, pages, pause_s)
        _integrity(partial)
        partial.rename(dest / src.name)
        copied.append(done)
    manifest = {
        "version": __version__,
        "started_at": started,
        "finished_at": time.time(),
        "store": "sqlite" if "store" in files else settings.ltm_scheme,
        "files": {
            c.role: {
                "name": c.name,
                "bytes": c.bytes,
                "rows": c.rows,
                "sha256": _sha256(dest / c.name),
                "seconds": round(c.seconds, 3),
            }
            for c in copied
        },
    }
    (dest / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    tighten(dest)  # every tenant's memories: 0700 and 0600, whatever the caller's umask
    _fsync_dir(dest)
    return manifest


def restore(settings: Settings, src: Path, *, force: bool = False) -> dict[str, Any]:
    """Put a backup's files in place of the data folder's (the service stopped: the caller holds the
    folder's lock); returns its manifest."""
    manifest = read_manifest(src)
    targets = data_files(settings)
    for role, entry in manifest["files"].items():
        if role not in targets:
            raise BackupError(f"the backup holds a {role} file, but JM_LTM_URL does not name an SQLite store")
        path = src / entry["name"]
        if not path.is_file() or path.is_symlink():
            raise BackupError(f"{path} is missing (or not a plain file): the backup is incomplete")
        if _sha256(path) != entry["sha256"]:
            raise BackupError(f"{path} differs from the file the backup wrote (SHA-256): the copy is damaged")
        _integrity(path)
    folder = settings.data_dir
    present = sorted(p.name for p in folder.iterdir() if p.name not in LOCK_FILES) if folder.exists() else []
    if present and not force:
        raise BackupError(
            f"{folder} is not empty ({', '.join(present[:6])}): stop the service, then pass --force to replace them"
        )
    for role, entry in manifest["files"].items():
        target = targets[role]
        target.parent.mkdir(parents=True, exist_ok=True)
        incoming = target.with_name(f".{target.name}.restoring")
        shutil.copyfile(src / entry["name"], incoming)
        with incoming.open("rb") as f:
            os.fsync(f.fileno())
        _integrity(incoming)
        for suffix in ("-wal", "-shm"):
            target.with_name(target.name + suffix).unlink(missing_ok=True)
        os.replace(incoming, target)
        _fsync_dir(target.parent)
    tighten(folder)
    return manifest
