"""The data folder's locks: one serve or restore at a time, backups side by side but never under a
restore; and `tighten` makes a folder private without following links out of it."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from jean_memory.storage.datadir import DataDirBusy, DataDirLock, read_holder, tighten


def test_one_owner_at_a_time(tmp_path: Path) -> None:
    with DataDirLock(tmp_path, "serve", listen="127.0.0.1:8766"):
        holder = read_holder(tmp_path)
        assert holder is not None and holder["pid"] == os.getpid() and holder["listen"] == "127.0.0.1:8766"
        with pytest.raises(DataDirBusy, match=rf"in use by jean-memory serve \(pid {os.getpid()} .*127.0.0.1:8766"):
            DataDirLock(tmp_path, "serve").acquire()
        with pytest.raises(DataDirBusy, match="stop it first"):
            DataDirLock(tmp_path, "restore").acquire()
        with DataDirLock(tmp_path, "backup"):  # a backup reads a live folder
            pass
    with DataDirLock(tmp_path, "serve"):  # released: free again
        pass


def test_backups_overlap_and_keep_a_restore_out(tmp_path: Path) -> None:
    with DataDirLock(tmp_path, "backup"), DataDirLock(tmp_path, "backup"):
        with pytest.raises(DataDirBusy, match="being backed up"):
            DataDirLock(tmp_path, "restore").acquire()
        with DataDirLock(tmp_path, "serve"):  # the service is not kept out by a backup
            pass
    with DataDirLock(tmp_path, "restore"):
        pass


def test_tighten_makes_the_folder_private(tmp_path: Path) -> None:
    data, outside = tmp_path / "data", tmp_path / "outside.txt"
    (data / "index").mkdir(parents=True)
    (data / "journal.db").write_text("x")
    (data / "index" / "snap").write_text("x")
    outside.write_text("not ours to change")
    for path, mode in ((data, 0o755), (data / "index", 0o755), (data / "journal.db", 0o644), (outside, 0o644)):
        path.chmod(mode)
    (data / "link").symlink_to(outside)
    tighten(data)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (data, data / "index", data / "journal.db",
                                                                data / "index" / "snap", outside)}  # fmt: skip
    assert modes == {"data": 0o700, "index": 0o700, "journal.db": 0o600, "snap": 0o600, "outside.txt": 0o644}
