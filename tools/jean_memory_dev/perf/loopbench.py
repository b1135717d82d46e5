"""How long each operation holds the event loop, and what that costs every other request.

Two measurements, side by side in one run:

- **Holds.** A service that times every event-loop callback (`JM_SLOW_CALLBACK_MS`,
  `telemetry/loopholds.py`) runs each operation the API allows at its limits, one kind at a time: batch
  adds of short and of maximum-size items, a batch with dedupe, PATCH, list, search, export and forget of
  a large user, list and search of a partially resident user. For each kind: the longest callback of the
  operation itself and of the background work it caused (embedding, vector delivery, the shuttle), in CPU
  and in wall time.
- **Stall.** The production configuration (uvloop, nothing timed): `/healthz` probed every few
  milliseconds from a process of its own (`prober.py`), alternately with nothing else running and while
  1,000-item batch adds run one after another; p50, p99 and max of the probes in each phase, rounds
  interleaved so both phases see the same machine. The control round sends the same batches but probes
  an idle service beside: the share of the stall that is the machine's (cores shared with the loaded
  service's threads and the benchmark's client), not the loop's.
- **Index growth** (every build, in a process of its own): one user's index grown 128 vectors at a time
  past the switch to SQ8 at 20,000, a search after each add as a reader would; the longest add in CPU time.
- **Cluster** (`--cluster`, every build): one replica over PostgreSQL timing its callbacks; the longest
  callback of three 1,000-item batches (the group commit applied to the replica's copy), of one batch of
  1,000 maximum-size items, and of the first list of that 3,000-memory user after a restart (its load),
  three restarts; then a replica in the production configuration, `/healthz` probed without and during
  1,000-item batches of users it holds.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from jean_memory_dev.perf.prober import Prober
from jean_memory_dev.processes import PostgresServer, ServiceProcess

_WORDS = (
    "garden",
    "budget",
    "cello",
    "running",
    "meeting",
    "coffee",
    "trip",
    "dinner",
    "project",
    "family",
    "doctor",
    "piano",
    "school",
    "holiday",
    "salary",
    "neighbour",
    "birthday",
    "recipe",
    "marathon",
    "library",
)
PROBE_EVERY_S = 0.005


def text(rng: random.Random, chars: int) -> str:
    """Words of a small vocabulary with a random suffix each, about `chars` characters."""
    out: list[str] = []
    size = 0
    while size < chars:
        word = rng.choice(_WORDS) + str(rng.randrange(1000))
        out.append(word)
        size += len(word) + 1
    return " ".join(out)[:chars]


def quantiles(samples: list[float]) -> dict[str, float]:
    xs = sorted(samples)
    if not xs:
        return {"n": 0, "p50_ms": 0.0, "p99_ms": 0.0, "max_ms": 0.0}
    return {
        "n": len(xs),
        "p50_ms": 1e3 * statistics.median(xs),
        "p99_ms": 1e3 * xs[min(len(xs) - 1, int(0.99 * len(xs)))],
        "max_ms": 1e3 * xs[-1],
    }


def post_batch(c: httpx.Client, user: str, items: list[dict[str, Any]], dedupe: bool = False) -> list[str]:
    """A batch add, waiting out 429s (the embedding backlog full) and 503s as a client should."""
    while True:
        r = c.post("/v1/memories/batch", json={"user_id": user, "items": items, "dedupe": dedupe})
        if r.status_code not in (429, 503):  # overloaded, or a commit that timed out: retry as told
            r.raise_for_status()
            return [str(i) for i in r.json()["ids"]]
        time.sleep(float(r.headers.get("retry-after", "0.2")))


def wait_idle(c: httpx.Client, timeout_s: float = 120) -> None:
    """Until nothing waits for a vector and the journal has drained into the store."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        metrics = c.get("/metrics").text
        if "\njm_embedding_backlog 0.0" in metrics and "\njm_shuttle_pending 0.0" in metrics:
            return
        time.sleep(0.1)


def _longest(report: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The longest callback across every operation in a report, and whose it was."""
    if not report:
        return {"max_cpu_ms": 0.0, "max_wall_ms": 0.0, "whose": "", "callback": ""}
    operation, hold = max(report.items(), key=lambda kv: kv[1]["max_cpu_s"])
    return {
        "max_cpu_ms": 1e3 * hold["max_cpu_s"],
        "max_wall_ms": 1e3 * max(h["max_wall_s"] for h in report.values()),
        "whose": operation,
        "callback": hold["longest"],
    }


def holds(work: Path, memories: int, seed: int = 1) -> list[dict[str, Any]]:
    """Each operation kind alone against a service that times its callbacks; the longest hold of each."""
    rng = random.Random(seed)
    env = {"JM_SLOW_CALLBACK_MS": "1000", "JM_STM_PARTIAL_USER_VECTORS": str(memories // 2), "JM_STM_WARM_USERS": "0"}
    svc = ServiceProcess(work / "holds", env=env).start()
    rows: list[dict[str, Any]] = []
    try:
        with httpx.Client(base_url=svc.url, timeout=300) as c:

            def measure(kind: str, action: Any) -> None:
                c.delete("/debug/loop-holds")
                action()
                wait_idle(c)
                report = c.get("/debug/loop-holds").json()
                row = {"operation": kind, **_longest(report)}
                rows.append(row)
                print(f"  {kind:38s} cpu {row['max_cpu_ms']:7.2f} ms  wall {row['max_wall_ms']:7.2f} ms  "
                      f"({row['whose']})", flush=True)  # fmt: skip

            short = [[{"content": text(rng, 250)} for _ in range(1000)] for _ in range(max(1, memories // 1000))]
            measure("batch add, 1,000 x 250 chars", lambda: [post_batch(c, "large", b) for b in short])
            big_meta = {"note": "x" * 8000}
            full = [{"content": text(rng, 32000), "metadata": big_meta} for _ in range(1000)]
            measure("batch add, 1,000 x maximum size", lambda: post_batch(c, "maxed", full))
            dup = [{"content": text(rng, 250)} for _ in range(1000)]
            measure("batch add with dedupe, 1,000", lambda: post_batch(c, "dedupe", dup, dedupe=True))
            ids = [i for b in short for i in post_batch(c, "patched", b[:100])]
            measure("PATCH", lambda: [c.patch(f"/v1/memories/{i}", params={"user_id": "patched"},
                                              json={"content": text(rng, 250)}) for i in ids[:50]])  # fmt: skip
            measure("list, large user", lambda: c.get("/v1/memories", params={"user_id": "large", "limit": 1000}))
            measure("search, large user", lambda: [c.post("/v1/search", json={"user_id": "large", "query": text(
                rng, 40), "k": 20}) for _ in range(20)])  # fmt: skip
            measure("export, large user", lambda: c.get("/v1/memories/export", params={"user_id": "large"}).content)
    finally:
        svc.stop()
    # The same folder, restarted: the large user is now in the store and partially resident.
    svc = ServiceProcess(work / "holds", env=env).start()
    try:
        with httpx.Client(base_url=svc.url, timeout=300) as c:
            for kind, action in (
                ("search, partially resident user (first)",
                 lambda: c.post("/v1/search", json={"user_id": "large", "query": text(rng, 40), "k": 20})),
                ("search, partially resident user, filtered",
                 lambda: c.post("/v1/search", json={"user_id": "large", "query": text(rng, 40), "k": 20,
                                                    "filters": {"missing": 1}})),
                ("list, partially resident user",
                 lambda: c.get("/v1/memories", params={"user_id": "large", "limit": 1000})),
                ("export, partially resident user",
                 lambda: c.get("/v1/memories/export", params={"user_id": "large"}).content),
                ("forget, large user", lambda: c.delete("/v1/memories", params={"user_id": "large"})),
            ):  # fmt: skip
                c.delete("/debug/loop-holds")
                action()
                wait_idle(c)
                row = {"operation": kind, **_longest(c.get("/debug/loop-holds").json())}
                rows.append(row)
                print(f"  {kind:38s} cpu {row['max_cpu_ms']:7.2f} ms  wall {row['max_wall_ms']:7.2f} ms  "
                      f"({row['whose']})", flush=True)  # fmt: skip
    finally:
        svc.stop()
    return rows


def _stall_round(
    work: Path, name: str, env: dict[str, str], payloads: list[list[dict[str, Any]]], control: bool = False
) -> tuple[list[float], list[float]]:
    """One variant's round: /healthz probed for a few seconds idle, then while the batches run. With
    `control`, the probes go to a second, idle service of the same build beside the loaded one: what the
    machine alone (cores shared with the batches' service and client) does to a request nobody delays."""
    svc = ServiceProcess(work / f"stall-{name}", env=env).start()
    beside = ServiceProcess(work / f"stall-{name}-beside", env=env).start() if control else None
    try:
        probed = (beside or svc).url
        with httpx.Client(base_url=svc.url, timeout=120) as c:
            with Prober(probed, PROBE_EVERY_S) as idle:
                time.sleep(3.0)
            with Prober(probed, PROBE_EVERY_S) as busy:
                for b, items in enumerate(payloads):
                    post_batch(c, f"stall-{b % 3}", items)
                wait_idle(c)
    finally:
        svc.stop()
        if beside is not None:
            beside.stop()
    return idle.latencies, busy.latencies


#: The stall's control: probes of an idle service beside the one taking the batches.
CONTROL = "control: an idle service beside"


def stall(work: Path, rounds: int, batches: int, builds: dict[str, dict[str, str]], seed: int = 2) -> dict[str, Any]:
    """`/healthz` latency without and during 1,000-item batch adds, for each variant (the environment its
    service runs with: another checkout's `PYTHONPATH`, a setting) and for the control (this build's
    batches, an idle service probed), rounds interleaved and their order alternated, so every variant
    sees the same machine."""
    rng = random.Random(seed)
    variants = {**builds, CONTROL: builds["this build"]}
    samples: dict[str, dict[str, list[float]]] = {name: {"idle": [], "batches": []} for name in variants}
    per_round: list[dict[str, Any]] = []
    for n in range(rounds):
        payloads = [[{"content": text(rng, 250)} for _ in range(1000)] for _ in range(batches)]
        order = list(variants) if n % 2 == 0 else list(reversed(variants))
        for name in order:
            slug = "control" if name == CONTROL else name.replace(" ", "-")
            idle, busy = _stall_round(work, f"{slug}-{n}", variants[name], payloads, control=name == CONTROL)
            samples[name]["idle"] += idle
            samples[name]["batches"] += busy
            idle_q, busy_q = quantiles(idle), quantiles(busy)
            per_round.append({"round": n, "build": name, "idle": idle_q, "batches": busy_q})
            print(f"  round {n} {name}: idle p50/p99/max {_fmt(idle_q)}; batches {_fmt(busy_q)}", flush=True)
    out: dict[str, Any] = {"rounds": per_round}
    for name, phases in samples.items():
        idle_q, busy_q = quantiles(phases["idle"]), quantiles(phases["batches"])
        ratio = busy_q["p99_ms"] / idle_q["p99_ms"] if idle_q["p99_ms"] else 0.0
        out[name] = {"idle": idle_q, "batches": busy_q, "p99_ratio": ratio}
    return out


def index_growth(rows: int = 24000, dim: int = 384, step: int = 128) -> dict[str, Any]:
    """In this process: the longest `UserIndex.add` (CPU) while one user grows to `rows` vectors."""
    import numpy as np

    from jean_memory.config import IndexKind
    from jean_memory.storage.vector_index import UserIndex

    data = np.random.default_rng(0).standard_normal((rows, dim)).astype(np.float32)
    data /= np.linalg.norm(data, axis=1, keepdims=True)
    index = UserIndex(dim, IndexKind.AUTO, large_kind=IndexKind.SQ8, large_threshold=20000)
    adds: list[tuple[float, int]] = []
    for start in range(0, rows, step):
        began = time.thread_time()
        index.add([f"m{i}" for i in range(start, min(start + step, rows))], data[start : start + step])
        adds.append((time.thread_time() - began, start + step))
        time.sleep(0.002)  # the loop's other work between two slices
        index.search(data[start], 10)
    adds.sort(reverse=True)
    return {"rows": rows, "longest_adds": [{"cpu_ms": 1e3 * t, "at_vectors": n} for t, n in adds[:5]]}


def _index_growth_of(env: dict[str, str]) -> dict[str, Any]:
    """`index_growth` in a process with a build's environment (its `PYTHONPATH`: its own vector index)."""
    tools = str(Path(__file__).resolve().parents[2])
    path = os.pathsep.join(p for p in (env.get("PYTHONPATH"), tools, os.environ.get("PYTHONPATH")) if p)
    code = "import json; from jean_memory_dev.perf.loopbench import index_growth; print(json.dumps(index_growth()))"
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, **env, "PYTHONPATH": path},
                         capture_output=True, text=True, check=True)  # fmt: skip
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def _longest_of(report: dict[str, dict[str, Any]], operation: str | None = None) -> dict[str, Any]:
    holds = {k: v for k, v in report.items() if operation is None or k == operation}
    op, hold = max(holds.items(), key=lambda kv: kv[1]["max_cpu_s"])
    return {"cpu_ms": 1e3 * hold["max_cpu_s"], "wall_ms": 1e3 * hold["max_wall_s"], "whose": op}


def cluster(work: Path, env: dict[str, str], restarts: int = 3) -> dict[str, Any]:
    """One replica over a PostgreSQL of its own: three 1,000-item batches, then cold first lists."""
    pg = PostgresServer().init().start()  # a folder of its own, which the postgres user can enter
    base = {**env, "JM_CLUSTER": "true", "JM_LTM_URL": pg.url, "JM_REPLICA_ID": "r0", "JM_SLOW_CALLBACK_MS": "1000"}
    out: dict[str, Any] = {"cold_list": []}
    try:
        svc = ServiceProcess(work / "r0", env=base).start()
        try:
            with httpx.Client(base_url=svc.url, timeout=120) as c:
                c.delete("/debug/loop-holds")
                for b in range(3):
                    post_batch(
                        c, "big", [{"content": f"note {b}-{i} about the garden and the budget"} for i in range(1000)]
                    )
                time.sleep(3.0)  # the vectors stored, the copy advanced
                out["batches"] = _longest_of(c.get("/debug/loop-holds").json())
                c.delete("/debug/loop-holds")
                rng = random.Random(3)
                post_batch(c, "maxed", [{"content": text(rng, 32000), "metadata": {"note": "x" * 8000}}
                                        for _ in range(1000)])  # fmt: skip
                time.sleep(3.0)
                out["maximum_batch"] = _longest_of(c.get("/debug/loop-holds").json())
        finally:
            svc.stop()
        out["stall"] = _cluster_stall(work, {**env, "JM_CLUSTER": "true", "JM_LTM_URL": pg.url, "JM_REPLICA_ID": "r1"})
        for _ in range(restarts):
            svc = ServiceProcess(work / "r0", env=base, port=svc.port).start()
            try:
                with httpx.Client(base_url=svc.url, timeout=120) as c:
                    c.delete("/debug/loop-holds")
                    c.get("/v1/memories", params={"user_id": "big", "limit": 1000}).raise_for_status()
                    out["cold_list"].append(_longest_of(c.get("/debug/loop-holds").json(), "GET /v1/memories"))
            finally:
                svc.stop()
    finally:
        pg.destroy()
    print(f"  maximum-size batch {out['maximum_batch']['cpu_ms']:.2f} ms CPU ({out['maximum_batch']['whose']}); "
          f"/healthz idle p50/p99/max {_fmt(out['stall']['idle'])}; batches {_fmt(out['stall']['batches'])}",
          flush=True)  # fmt: skip
    print(f"  batches {out['batches']['cpu_ms']:.2f} ms CPU ({out['batches']['whose']}); cold list "
          + ", ".join(f"{h['cpu_ms']:.2f}" for h in out["cold_list"]) + " ms CPU", flush=True)  # fmt: skip
    return out


def _cluster_stall(work: Path, env: dict[str, str], batches: int = 10, seed: int = 4) -> dict[str, Any]:
    """A replica in the production configuration (uvloop, nothing timed): `/healthz` probed idle, then
    during 1,000-item batch adds of three users it holds (their copies loaded, so each group goes in)."""
    rng = random.Random(seed)
    payloads = [[{"content": text(rng, 250)} for _ in range(1000)] for _ in range(batches)]
    svc = ServiceProcess(work / "stall", env=env).start()
    try:
        with httpx.Client(base_url=svc.url, timeout=120) as c:
            for b in range(3):
                c.get("/v1/memories", params={"user_id": f"stall-{b}", "limit": 1}).raise_for_status()
            with Prober(svc.url, PROBE_EVERY_S) as idle:
                time.sleep(3.0)
            with Prober(svc.url, PROBE_EVERY_S) as busy:
                for b, items in enumerate(payloads):
                    post_batch(c, f"stall-{b % 3}", items)
                time.sleep(2.0)  # the vectors embedded and stored
    finally:
        svc.stop()
    idle_q, busy_q = quantiles(idle.latencies), quantiles(busy.latencies)
    ratio = busy_q["p99_ms"] / idle_q["p99_ms"] if idle_q["p99_ms"] else 0.0
    return {"idle": idle_q, "batches": busy_q, "p99_ratio": ratio}


def _fmt(q: dict[str, float]) -> str:
    return f"{q['p50_ms']:.2f}/{q['p99_ms']:.2f}/{q['max_ms']:.2f} ms"


def run(
    rounds: int = 3,
    batches: int = 15,
    memories: int = 5000,
    against: Path | None = None,
    variants: dict[str, dict[str, str]] | None = None,
    with_cluster: bool = False,
) -> dict[str, Any]:
    """Holds by operation (this build), then the stall of every variant side by side: this build as it is,
    `against` (another checkout, by its `PYTHONPATH`) and `variants` (this build with other settings)."""
    builds: dict[str, dict[str, str]] = {"this build": {}}
    if against is not None:
        builds[f"against {against.name}"] = {"PYTHONPATH": str(against.resolve() / "service")}
    builds.update(variants or {})
    with tempfile.TemporaryDirectory(prefix="jm-loopbench-") as tmp:
        work = Path(tmp)
        print("holds, by operation (service timing every callback):", flush=True)
        rows = holds(work, memories) if memories else []
        growth: dict[str, Any] = {}
        for name, env in builds.items():
            if name == "this build" or "PYTHONPATH" in env:
                growth[name] = _index_growth_of(env)
                print(f"index growth, {name}: longest adds (CPU ms, at vectors) "
                      + ", ".join(f"{a['cpu_ms']:.2f} @ {a['at_vectors']}" for a in growth[name]["longest_adds"]),
                      flush=True)  # fmt: skip
        clusters: dict[str, Any] = {}
        for name, env in builds.items():
            if with_cluster and (name == "this build" or "PYTHONPATH" in env):
                print(f"cluster mode, {name}:", flush=True)
                clusters[name] = cluster(work / f"cluster-{name.replace(' ', '-')}", env)
        print("stall of /healthz without and during batch adds (production loop):", flush=True)
        probes = stall(work, rounds, batches, builds)
    return {
        "holds": rows, "stall": probes, "index_growth": growth, "cluster": clusters,
        "rounds": rounds, "batches": batches, "builds": list(builds),
    }  # fmt: skip


def table(report: dict[str, Any]) -> str:
    lines = ["| operation | longest hold, CPU (ms) | longest hold, wall (ms) | whose |", "|---|---|---|---|"]
    for row in report["holds"]:
        lines.append(f"| {row['operation']} | {row['max_cpu_ms']:.2f} | {row['max_wall_ms']:.2f} | {row['whose']} |")
    lines += [
        "",
        "| build | /healthz probes | n | p50 (ms) | p99 (ms) | max (ms) | p99 during / without |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in [*report["builds"], *([CONTROL] if CONTROL in report["stall"] else [])]:
        s = report["stall"][name]
        for phase, q in (("no batches", s["idle"]), ("during 1,000-item batches", s["batches"])):
            ratio = f"{s['p99_ratio']:.2f}x" if phase != "no batches" else ""
            lines.append(f"| {name} | {phase} | {q['n']} | {q['p50_ms']:.2f} | {q['p99_ms']:.2f} | "
                         f"{q['max_ms']:.2f} | {ratio} |")  # fmt: skip
    for name, c in report.get("cluster", {}).items():
        s = c["stall"]
        for phase, q in (("no batches", s["idle"]), ("during 1,000-item batches", s["batches"])):
            ratio = f"{s['p99_ratio']:.2f}x" if phase != "no batches" else ""
            lines.append(f"| {name}, cluster | {phase} | {q['n']} | {q['p50_ms']:.2f} | {q['p99_ms']:.2f} | "
                         f"{q['max_ms']:.2f} | {ratio} |")  # fmt: skip
    if report.get("cluster"):
        lines += ["", "| build | cluster hold | CPU (ms) | wall (ms) | whose |", "|---|---|---|---|---|"]
        for name, c in report["cluster"].items():
            for label, h in (("3 batches of 1,000 x 250 chars", c["batches"]),
                             ("batch of 1,000 x maximum size", c["maximum_batch"]),
                             *((f"cold list {n + 1}", h) for n, h in enumerate(c["cold_list"]))):  # fmt: skip
                lines.append(f"| {name} | {label} | {h['cpu_ms']:.2f} | {h['wall_ms']:.2f} | {h['whose']} |")
    return "\n".join(lines)
