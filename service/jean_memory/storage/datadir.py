"""The data folder: one process owns it, and nobody else on the host can read it.

**Ownership.** `serve` and `restore` take an exclusive `flock` on `DATA_DIR/.lock` for as long as they
run, and write who they are into it (pid, command, host:port). A second `serve` on the same folder (on
another port, say) would otherwise start, report ready, and diverge from the first: each journals
what it is sent and neither sees the other's writes. `restore` replacing files under a running service
would corrupt them. Either refuses at once, naming the holder. The kernel drops the lock when the
holder's last descriptor closes, so a crashed (`kill -9`) service leaves no stale lock behind: the
file may stay, the lock does not.

`backup` copies from a running service, so it cannot take the exclusive lock. It takes a shared lock
on `DATA_DIR/.backup.lock` instead, which `restore` also takes exclusively: a restore never replaces
the files a backup is reading, and backups may run side by side.

**Privacy.** The folder holds every tenant's memories, so it is made 0700 and its files 0600, and
files created later are private too (the process's umask is 077). A folder made before this (0755,
0644) is tightened on every start.

    with DataDirLock(settings.data_dir, "serve", listen="127.0.0.1:8766"):
        ...  # the folder is ours until the block ends (or the process dies)
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import socket
import stat
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any

LOCK_FILE = ".lock"
BACKUP_LOCK_FILE = ".backup.lock"
#: Files here that are bookkeeping, not data: a folder holding only these is empty to `restore`.
LOCK_FILES = frozenset({LOCK_FILE, BACKUP_LOCK_FILE})
log = logging.getLogger(__name__)

PRIVATE_UMASK = 0o077
FOLDER_MODE = 0o700
FILE_MODE = 0o600


class DataDirBusy(Exception):
    """Another process holds the data folder; the message names it and says what to do."""


def make_private() -> None:
    """From now on this process creates files 0600 and folders 0700 (SQLite gives a database's
    -wal and -shm the database's own mode)."""
    os.umask(PRIVATE_UMASK)


def tighten(folder: Path) -> None:
    """Create `folder` 0700 if missing; make it and everything in it private if it exists.
    Symbolic links are left alone (their target may be anywhere, and may not be ours)."""
    folder.mkdir(parents=True, exist_ok=True, mode=FOLDER_MODE)
    _chmod(folder, FOLDER_MODE)
    for root, dirs, files in os.walk(folder):
        for name in dirs:
            _chmod(Path(root, name), FOLDER_MODE)
        for name in files:
            _chmod(Path(root, name), FILE_MODE)


def _chmod(path: Path, mode: int) -> None:
    with contextlib.suppress(FileNotFoundError):  # a file removed while we walk (a WAL, say)
        st = path.lstat()
        if not stat.S_ISLNK(st.st_mode) and stat.S_IMODE(st.st_mode) != mode:
            try:
                path.chmod(mode)
            except PermissionError:  # another user's file (a mounted volume): say so, do not stop
                log.warning("%s is %o and not ours to make %o: others on this host may read it", path,
                            stat.S_IMODE(st.st_mode), mode)  # fmt: skip


class DataDirLock:
    """An exclusive (or, for backups, shared) claim on a data folder, held until `release` or exit."""

    def __init__(self, folder: Path, command: str, *, listen: str | None = None) -> None:
        self.folder = folder
        self.command = command
        self.holder: dict[str, Any] = {
            "pid": os.getpid(),
            "command": command,
            "host": socket.gethostname(),
            "listen": listen,
            "since": round(time.time(), 3),
            "argv": " ".join(sys.argv)[:200],
        }
        self._fds: list[int] = []

    def acquire(self) -> DataDirLock:
        """Take the folder's locks, or raise DataDirBusy naming who holds them."""
        self.folder.mkdir(parents=True, exist_ok=True, mode=FOLDER_MODE)
        try:
            if self.command == "backup":
                self._take(BACKUP_LOCK_FILE, fcntl.LOCK_SH, record=False)
            else:
                self._take(LOCK_FILE, fcntl.LOCK_EX, record=True)
                if self.command == "restore":
                    self._take(BACKUP_LOCK_FILE, fcntl.LOCK_EX, record=False)
        except BaseException:
            self.release()
            raise
        return self

    def _take(self, name: str, mode: int, *, record: bool) -> None:
        path = self.folder / name
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            raise DataDirBusy(self._busy_message(name)) from None
        self._fds.append(fd)
        if record:
            data = (json.dumps(self.holder, sort_keys=True) + "\n").encode()
            os.ftruncate(fd, 0)
            os.pwrite(fd, data, 0)

    def _busy_message(self, name: str) -> str:
        if name == BACKUP_LOCK_FILE:
            return f"{self.folder} is being backed up (`jean-memory backup` is running): wait for it to finish"
        holder = read_holder(self.folder)
        who = describe(holder) if holder else "another process (it has not written its name yet)"
        action = "stop it first" if self.command == "restore" else "stop it, or give this one its own JM_DATA_DIR"
        return f"{self.folder} is in use by {who}: {action}"

    def release(self) -> None:
        """Give the folder back. The lock file stays (removing it would race a process opening it)."""
        while self._fds:
            os.close(self._fds.pop())

    def __enter__(self) -> DataDirLock:
        return self.acquire()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.release()


def read_holder(folder: Path) -> dict[str, Any] | None:
    """What the process holding the folder wrote about itself, if anything readable."""
    try:
        value = json.loads((folder / LOCK_FILE).read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def describe(holder: dict[str, Any]) -> str:
    """`jean-memory serve (pid 4711 on host db1, listening on 127.0.0.1:8766)`."""
    listening = f", listening on {holder['listen']}" if holder.get("listen") else ""
    return f"jean-memory {holder.get('command')} (pid {holder.get('pid')} on host {holder.get('host')}{listening})"
