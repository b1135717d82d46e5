"""The drill's load: locust's headless workload (tools/jean_memory_dev/load/locustfile.py) against the
front door, in its own process group so that stopping it stops every worker, and its running totals from
the stats history it writes every second.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
from pathlib import Path

LOCUSTFILE = Path(__file__).resolve().parents[1] / "load" / "locustfile.py"


class LoadDriver:
    """`users` locust users against a front door; logs and stats in `folder`."""

    def __init__(self, folder: Path, users: int = 10) -> None:
        self.folder = folder
        self.users = users
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, front: str) -> None:
        log = (self.folder / "locust.log").open("ab")
        users = str(self.users)
        cmd = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--host", front]
        cmd += ["--users", users, "--spawn-rate", users, "--run-time", "180m"]
        cmd += ["--csv", str(self.folder / "locust"), "--only-summary"]
        self.proc = subprocess.Popen(
            cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "JM_LOAD_USERS": "2000"},
        )
        log.close()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)

    def totals(self) -> tuple[int, int]:
        """(requests, failures) the load has sent so far, from locust's stats history (written every second)."""
        path = self.folder / "locust_stats_history.csv"
        last: dict[str, str] | None = None
        if path.exists():
            with path.open() as f:
                for row in csv.DictReader(f):
                    if row.get("Name") == "Aggregated":
                        last = row
        if last is None:
            return 0, 0
        return int(last["Total Request Count"]), int(last["Total Failure Count"])
