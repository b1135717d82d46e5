"""The builds a goal is measured on side by side, and the data sets they are measured over.

"The previous state" is a real earlier build, not a remembered number: `previous(rev)` extracts that
revision's service package with `git archive` and runs it with `PYTHONPATH` pointing at it (the
runtime dependencies are the same), so both builds serve the same requests on the same machine in
the same run. A data set is seeded once per build (the store's schema differs between builds) and
copied for each round, so every round starts from the same files.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from jean_memory_dev.paths import ROOT
from jean_memory_dev.perf.baseline import Samples, gauge, scrape
from jean_memory_dev.processes import ServiceProcess

#: Round one's last commit: the state this round is measured against.
PREVIOUS_REV = "e838947"


@dataclass(frozen=True)
class Build:
    name: str
    env: Mapping[str, str] = field(default_factory=dict)

    def service(self, data: Path, env: Mapping[str, str] | None = None) -> ServiceProcess:
        return ServiceProcess(data, env={**self.env, **(env or {})})


THIS = Build("this build")


def previous(work: Path, rev: str = PREVIOUS_REV) -> Build | None:
    """Round one's service package, runnable beside this one (None when the checkout lacks `rev`)."""
    dest = work / f"rev-{rev}"
    try:
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", rev, "service/jean_memory"], capture_output=True, check=True
        ).stdout
    except subprocess.CalledProcessError:  # a shallow clone: measure this build alone
        return None
    dest.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return Build(f"round one ({rev})", {"PYTHONPATH": str(dest / "service")})


def metric(samples: Samples, name: str) -> float | None:
    """A gauge under this build's name (`jm_` prefix) or round one's (no prefix)."""
    value = gauge(samples, f"jm_{name}")
    return value if value is not None else gauge(samples, name)


def settle(url: str, timeout_s: float = 1800) -> None:
    """Wait until every vector is indexed and every journal row shipped to the store."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        s = scrape(url)
        if not (metric(s, "embedding_backlog") or 0) and not (metric(s, "shuttle_pending") or 0):
            return
        time.sleep(0.5)
    raise TimeoutError(f"{url}: backlog not drained in {timeout_s} s")


def add_batches(client: httpx.Client, user: str, items: Sequence[Mapping[str, object]]) -> None:
    """Batch-add `items` for `user` in batches of 1000, waiting as told on 429/503."""
    for i in range(0, len(items), 1000):
        while True:
            r = client.post("/v1/memories/batch", json={"user_id": user, "items": list(items[i : i + 1000])})
            if r.status_code in (429, 503):
                time.sleep(float(r.headers.get("retry-after", "1")))
                continue
            r.raise_for_status()
            break


def seed(
    build: Build, data: Path, users: Mapping[str, Sequence[Mapping[str, object]]], env: Mapping[str, str]
) -> float:
    """Fill `data` with `users`' memories through `build`'s API, shipped to the store; returns seconds."""
    start = time.perf_counter()
    svc = build.service(data, env).start(timeout_s=300)
    try:
        with httpx.Client(base_url=svc.url, timeout=600) as client:
            for user, items in users.items():
                add_batches(client, user, items)
        settle(svc.url)
    finally:
        svc.terminate()
    return time.perf_counter() - start


def copy_of(seeded: Path, dest: Path) -> Path:
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(seeded, dest)
    return dest
