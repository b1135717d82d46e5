"""The history checker's long form: `scripts/coherence` (`make coherence`).

Each run starts a fresh PostgreSQL and three cluster replicas (hash embedder, faults enabled for the
commit stall), then runs the workload once per nemesis and once without, each for `--duration`
seconds on users of its own, and finally embedded mode with one replica under SIGSTOP/SIGCONT. It
prints one line per phase with the checker's counts, and a table to quote in docs/cluster.md; it
exits 1 when any phase found an anomaly.

    scripts/coherence --runs 5 --duration 30 --save coherence
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from jean_memory_dev.coherence.nemesis import NEMESES, Target
from jean_memory_dev.coherence.workload import Plan, run
from jean_memory_dev.processes import PostgresServer, ServiceProcess

TOKEN = "coherence-admin-token-0123"
#: The phases of a run: each nemesis alone, then none.
PHASES: tuple[tuple[str, ...], ...] = (*((n,) for n in NEMESES), ())


def one_run(number: int, duration_s: float, seed: int) -> list[dict[str, Any]]:
    folder = Path(tempfile.mkdtemp(prefix=f"jm-coherence-{number}-"))
    try:
        return _cluster(number, folder, duration_s, seed) + _embedded(number, folder, duration_s, seed)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _cluster(number: int, folder: Path, duration_s: float, seed: int) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    postgres = PostgresServer().init().start()
    replicas: list[ServiceProcess] = []
    try:
        env = {"JM_CLUSTER": "true", "JM_LTM_URL": postgres.url, "JM_FAULTS_ENABLED": "true", "JM_ADMIN_TOKEN": TOKEN}
        for n in range(3):
            replicas.append(ServiceProcess(folder / f"r{n}", env={**env, "JM_REPLICA_ID": f"r{n}"}).start())
        target = Target(replicas, postgres, TOKEN)
        for phase, nemeses in enumerate(PHASES):
            plan = Plan(duration_s=duration_s, seed=seed + phase, tag=f"p{phase}")
            results.append(_phase(number, "cluster, 3 replicas", "+".join(nemeses) or "none", target, plan, nemeses))
    finally:
        for replica in replicas:
            replica.stop()
        postgres.destroy()
    return results


def _embedded(number: int, folder: Path, duration_s: float, seed: int) -> list[dict[str, Any]]:
    embedded = ServiceProcess(folder / "embedded").start()
    try:
        plan = Plan(duration_s=duration_s, seed=seed + len(PHASES))
        return [_phase(number, "embedded, 1 replica", "pause", Target([embedded]), plan, ("pause",))]
    finally:
        embedded.stop()


def _phase(number: int, mode: str, name: str, target: Target, plan: Plan, nemeses: tuple[str, ...]) -> dict[str, Any]:
    start = time.monotonic()
    verdict, _ = run(target, plan, nemeses)
    row = {"run": number, "mode": mode, "nemesis": name, **verdict.counts(), "seconds": round(time.monotonic() - start)}
    row["examples"] = {k: v[:3] for k, v in verdict.anomalies.items() if v}
    print(json.dumps(row), flush=True)
    return row


def table(rows: list[dict[str, Any]]) -> str:
    columns = ("run", "mode", "nemesis", "operations", "judged_reads", "stale_reads", "lost_acks", "stale_vectors")
    others = ("wrong_values", "search_misses", "history_gaps", "diverged")
    head = [*columns, "other anomalies"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [f"{r[c]:,}" if isinstance(r[c], int) and c != "run" else str(r[c]) for c in columns]
        lines.append("| " + " | ".join([*cells, str(sum(r[o] for o in others))]) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="jean-memory-dev coherence", description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of workload per phase")
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--save", help="write the rows as JSON to perf-results/NAME.json")
    args = parser.parse_args(argv)
    # A SIGTERM unwinds like Ctrl-C, so every server a run started is stopped and its folder removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    rows: list[dict[str, Any]] = []
    for number in range(1, args.runs + 1):
        rows += one_run(number, args.duration, args.seed + 100 * number)
    print(table(rows))
    if args.save:
        path = Path("perf-results") / f"{args.save}.json"
        path.write_text(json.dumps(rows, indent=2, sort_keys=True) + "\n")
        print(f"saved {path}")
    clean = all(not r["examples"] for r in rows)
    return 0 if clean else 1
