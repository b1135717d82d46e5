"""The `jean-memory-dev` command: benchmarks, profiling, fire drills, the native stack, generation.

Each subcommand drives the service from the outside; `make bench`, `make drill`, `make stack` and
`make generate` are thin wrappers over it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from jean_memory_dev.perf.locomo import DEFAULT_PATH as DEFAULT_LOCOMO


def _baseline(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from jean_memory_dev.perf.baseline import Scenario, compare_table, run, table, targets_table

    scenarios = [
        Scenario(
            embedder=e,
            memories=n,
            users=max(1, n // args.per_user),
            rate=args.rate,
            duration_s=args.duration,
            stm_index=args.index,
        )
        for e in args.embedder
        for n in args.memories
    ]
    save = Path(args.results) / f"{args.save}.json" if args.save else None
    report = run(scenarios, save)
    print(table(report))
    print()
    print(targets_table(report))
    if args.compare:
        before = json.loads((Path(args.results) / f"{args.compare}.json").read_text())
        print()
        print(compare_table(before, report))
    if save:
        print(f"saved {save}")
    return 0


def _save(args: argparse.Namespace, report: object) -> None:
    """`--save NAME`: the report as JSON in the results folder."""
    import json
    from pathlib import Path

    if args.save:
        path = Path(args.results) / f"{args.save}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=2, sort_keys=True))
        print(f"saved {path}")


def _overhead(args: argparse.Namespace) -> int:
    if args.canary:
        from jean_memory_dev.perf.canaryoverhead import run as canary_run
        from jean_memory_dev.perf.canaryoverhead import table as canary_table

        report = canary_run(seconds=max(args.seconds, 30.0))
        print(canary_table(report))
        _save(args, report)
        return 0
    if args.logs:
        from jean_memory_dev.perf.logsoverhead import run, table
    else:
        from jean_memory_dev.perf.overhead import run, table

    results = run(rounds=args.rounds, seconds=args.seconds, connections=args.connections)
    print(table(results))
    _save(args, results)
    return 0


def _clientbench(args: argparse.Namespace) -> int:
    from jean_memory_dev.perf.clientbench import run, table

    results = run(calls=args.calls)
    print(table(results))
    _save(args, results)
    return 0


def _profile(args: argparse.Namespace) -> int:
    from pathlib import Path

    from jean_memory_dev.perf.profiling import profile

    out = Path(args.out)
    print(profile(args.workload, args.n, args.embedder, out))
    print(
        f"wrote {out.with_suffix('.prof')} (cProfile: snakeviz, pstats) and {out.with_suffix('.html')} (pyinstrument)"
    )
    return 0


def _indexbench(args: argparse.Namespace) -> int:
    from pathlib import Path

    from jean_memory.config import IndexKind
    from jean_memory_dev.perf.indexbench import run, table

    kinds = tuple(IndexKind(k) for k in args.index)
    rows = run(args.embedder, args.memories, args.queries, kinds, Path(args.cache) if args.cache else None)
    print(table(rows))
    _save(args, rows)
    return 0


def _capacity(args: argparse.Namespace) -> int:

    from jean_memory_dev.perf.capacity import run, table

    env = dict(kv.split("=", 1) for kv in args.env)
    report = run(args.embedder, args.seconds, args.model_seconds, args.overload, env=env)
    print(table(report))
    _save(args, report)
    return 0


def _clusterbench(args: argparse.Namespace) -> int:
    from jean_memory_dev.perf.clusterbench import run, table

    report = run(rounds=args.rounds, seconds=args.seconds, rate=args.rate, connections=args.connections)
    print(table(report))
    _save(args, report)
    return 0


def _lifecyclebench(args: argparse.Namespace) -> int:
    from jean_memory_dev.perf.lifecyclebench import run, table

    report = run(rounds=args.rounds, seconds=args.seconds, rate=args.rate)
    print(table(report))
    _save(args, report)
    return 0


def _filterbench(args: argparse.Namespace) -> int:
    from jean_memory_dev.perf.filterbench import run, table

    report = run(memories=args.memories, searches=args.searches, against=args.against, cache=args.cache)
    print(table(report))
    _save(args, report)
    return 0


def _mcpbench(args: argparse.Namespace) -> int:
    from jean_memory_dev.perf.mcpbench import run, table

    report = run(rounds=args.rounds, seconds=args.seconds, rate=args.rate, generator=args.generator)
    print(table(report))
    _save(args, report)
    return 0


def _loopbench(args: argparse.Namespace) -> int:
    from jean_memory_dev.perf.loopbench import run, table

    variants = {name: dict(kv.split("=", 1) for kv in env) for name, *env in (v.split(":") for v in args.variant)}
    report = run(args.rounds, args.batches, args.memories, args.against, variants, args.cluster)
    print(table(report))
    _save(args, report)
    return 0


def _schedfloor(args: argparse.Namespace) -> int:
    from jean_memory_dev.perf.schedfloor import run, table

    report = run(args.rounds, args.seconds, args.load)
    print(table(report))
    _save(args, report)
    return 0


def _goals(args: argparse.Namespace) -> int:
    from pathlib import Path

    from jean_memory_dev.perf.goals import plot, run, tables

    report = run(
        tuple(args.section),
        rounds=args.rounds,
        seconds=args.seconds,
        memories=args.memories,
        cache=Path(args.cache) if args.cache else None,
    )
    print(tables(report))
    _save(args, report)
    print(f"plot: {plot(report, Path(args.results) / 'goals.png')}")
    return 0


def _recall(args: argparse.Namespace) -> int:
    from pathlib import Path

    from jean_memory_dev.perf.recall import plot, run, table

    headers = {}
    if args.api_key_file:
        headers["Authorization"] = f"Bearer {Path(args.api_key_file).read_text().strip()}"
    report = run(args.embedder, args.conversations, Path(args.path), args.url, headers, cluster=args.cluster)
    print(table(report))
    _save(args, report)
    name = args.save or "recall"
    print(f"plot: {plot(report, Path(args.results) / f'{name}.png')}")
    return 0


def _bench(args: argparse.Namespace) -> int:
    from pathlib import Path

    from jean_memory_dev.perf.bench import run, summary

    print(summary(run(args.full, Path(args.results))))
    return 0


#: Subcommands with a parser of their own: the rest of the command line goes to them unparsed.
DELEGATED = {
    "drill": "jean_memory_dev.drill",
    "stack": "jean_memory_dev.nativestack",
    "cluster": "jean_memory_dev.clustercommand",
    "coherence": "jean_memory_dev.coherence.longform",
    "generate": "jean_memory_dev.mixin.generate",
    "dashlint": "jean_memory_dev.mixin.dashlint",
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in DELEGATED:
        import importlib

        module = importlib.import_module(DELEGATED[argv[0]])
        return int(module.main(argv[1:]))
    parser = argparse.ArgumentParser(
        prog="jean-memory-dev", description=__doc__, epilog=f"also: {', '.join(sorted(DELEGATED))} (each with --help)"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("baseline", help="measure latency and throughput over HTTP; save JSON")
    b.add_argument("--embedder", nargs="+", default=["hash"], choices=["hash", "minilm"])
    b.add_argument("--memories", nargs="+", type=int, default=[10_000])
    b.add_argument("--per-user", type=int, default=1000, help="memories per user in the preload")
    b.add_argument("--index", default="auto", choices=["auto", "flat", "hnsw", "sq8"])
    b.add_argument("--rate", type=float, default=500.0, help="offered requests/s for latency runs")
    b.add_argument("--duration", type=float, default=10.0, help="seconds per latency run")
    b.add_argument("--save", metavar="NAME", help="save the JSON report as RESULTS/NAME.json")
    b.add_argument("--compare", metavar="NAME", help="print improvement factors against RESULTS/NAME.json")
    b.add_argument("--results", default="perf-results", help="folder of saved reports")
    b.set_defaults(func=_baseline)
    o = sub.add_parser("overhead", help="telemetry off vs lean vs stock OpenTelemetry, side by side (wrk)")
    o.add_argument("--rounds", type=int, default=3)
    o.add_argument("--seconds", type=float, default=5.0)
    o.add_argument("--connections", type=int, default=16)
    o.add_argument("--logs", action="store_true", help="logs export over OTLP on vs off, beside today's telemetry")
    o.add_argument("--canary", action="store_true", help="the synthetic user's CPU and requests, by its accounts")
    o.add_argument("--save", metavar="NAME")
    o.add_argument("--results", default="perf-results")
    o.set_defaults(func=_overhead)
    cl = sub.add_parser("clientbench", help="the Python client's cost per call over raw httpx, side by side")
    cl.add_argument("--calls", type=int, default=2000, help="calls per side, per operation")
    cl.add_argument("--save", metavar="NAME", default="client-overhead")
    cl.add_argument("--results", default="perf-results")
    cl.set_defaults(func=_clientbench)
    p = sub.add_parser("profile", help="profile a workload in-process: cProfile .prof and pyinstrument .html")
    p.add_argument("--workload", choices=["add", "search", "mixed"], default="mixed")
    p.add_argument("--n", type=int, default=2000, help="operations")
    p.add_argument("--embedder", choices=["hash", "minilm"], default="hash")
    p.add_argument("--out", default="perf-results/profile", help="path without suffix")
    p.set_defaults(func=_profile)
    i = sub.add_parser("indexbench", help="STM index latency, memory and recall@10 at scale")
    i.add_argument("--embedder", nargs="+", default=["hash"], choices=["hash", "minilm"])
    i.add_argument("--memories", nargs="+", type=int, default=[10_000, 100_000])
    i.add_argument("--queries", type=int, default=200)
    i.add_argument("--index", nargs="+", default=["flat", "hnsw", "sq8"], choices=["flat", "hnsw", "sq8"])
    i.add_argument("--cache", metavar="DIR", help="keep the embeddings in DIR/*.npy for the next run")
    i.add_argument("--save", metavar="NAME")
    i.add_argument("--results", default="perf-results")
    i.set_defaults(func=_indexbench)
    c = sub.add_parser("capacity", help="model-bound capacity: the model alone vs sustained adds, 429s, Zipf searches")
    c.add_argument("--embedder", choices=["hash", "minilm"], default="minilm")
    c.add_argument("--seconds", type=float, default=30.0, help="length of the add and search phases")
    c.add_argument("--model-seconds", type=float, default=10.0, help="length of each model-alone measurement")
    c.add_argument("--overload", type=float, default=1.5, help="adds offered, as a multiple of the model's rate")
    c.add_argument("--env", nargs="*", default=[], metavar="JM_X=V", help="service settings for this run")
    c.add_argument("--save", metavar="NAME")
    c.add_argument("--results", default="perf-results")
    c.set_defaults(func=_capacity)
    cb = sub.add_parser("clusterbench", help="cluster vs embedded, two replicas vs one behind HAProxy (side by side)")
    cb.add_argument("--rounds", type=int, default=3)
    cb.add_argument("--seconds", type=float, default=10.0)
    cb.add_argument("--rate", type=float, default=500.0, help="offered adds/s for the latency run")
    cb.add_argument("--connections", type=int, default=32, help="wrk connections for the mixed throughput run")
    cb.add_argument("--save", metavar="NAME")
    cb.add_argument("--results", default="perf-results")
    cb.set_defaults(func=_clusterbench)
    g = sub.add_parser("goals", help="round two's goals, each beside round one's build (perf/goals)")
    g.add_argument("--section", nargs="+", default=["idle", "big", "million", "minilm", "overhead"])
    g.add_argument("--rounds", type=int, default=3)
    g.add_argument("--seconds", type=float, default=10.0, help="length of each load")
    g.add_argument("--memories", type=int, default=1_000_000, help="size of the one-user data set (million)")
    g.add_argument("--cache", metavar="DIR", help="keep the seeded million-memory data folder here")
    g.add_argument("--save", metavar="NAME")
    g.add_argument("--results", default="perf-results")
    g.set_defaults(func=_goals)
    lb = sub.add_parser("lifecyclebench", help="update, history, export, forget, dedupe at a stated rate")
    lb.add_argument("--rounds", type=int, default=3)
    lb.add_argument("--seconds", type=float, default=5.0, help="length of each operation's load")
    lb.add_argument("--rate", type=float, default=500.0, help="offered requests/s")
    lb.add_argument("--save", metavar="NAME")
    lb.add_argument("--results", default="perf-results")
    lb.set_defaults(func=_lifecyclebench)
    fb = sub.add_parser("filterbench", help="filtered search of one large user, resident and partially resident")
    fb.add_argument("--memories", type=int, default=100_000, help="the user's size")
    fb.add_argument("--searches", type=int, default=40, help="searches per filter, mode and build")
    fb.add_argument("--against", type=Path, metavar="CHECKOUT", help="another checkout, measured side by side")
    fb.add_argument("--cache", type=Path, metavar="DIR", help="keep the seeded data folder here")
    fb.add_argument("--save", metavar="NAME")
    fb.add_argument("--results", default="perf-results")
    fb.set_defaults(func=_filterbench)
    mb = sub.add_parser("mcpbench", help="an MCP tool call beside the same /v1 request, at a stated rate")
    mb.add_argument("--rounds", type=int, default=3)
    mb.add_argument("--seconds", type=float, default=5.0, help="length of each operation's load")
    mb.add_argument("--rate", type=float, default=500.0, help="offered requests/s")
    mb.add_argument("--generator", choices=("python", "hey"), default="python", help="who offers the load")
    mb.add_argument("--save", metavar="NAME")
    mb.add_argument("--results", default="perf-results")
    mb.set_defaults(func=_mcpbench)
    lp = sub.add_parser("loopbench", help="event-loop holds by operation, and /healthz with and without batches")
    lp.add_argument("--rounds", type=int, default=3, help="interleaved rounds of the stall measurement")
    lp.add_argument("--batches", type=int, default=15, help="1,000-item batch adds per busy phase")
    lp.add_argument("--memories", type=int, default=5000, help="size of the large user (0: skip the holds)")
    lp.add_argument("--against", type=Path, metavar="CHECKOUT", help="another checkout, measured side by side")
    lp.add_argument("--variant", action="append", default=[], metavar="NAME:JM_X=V[:JM_Y=W]",
                    help="this build with these settings, measured side by side (repeatable)")  # fmt: skip
    lp.add_argument("--cluster", action="store_true", help="also time a replica over PostgreSQL (batches, cold load)")
    lp.add_argument("--save", metavar="NAME")
    lp.add_argument("--results", default="perf-results")
    lp.set_defaults(func=_loopbench)
    sf = sub.add_parser("schedfloor", help="the machine's wakeup latency beside busy processes, no service involved")
    sf.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    sf.add_argument("--seconds", type=float, default=4.0, help="probing per case and round")
    sf.add_argument("--load", type=int, default=2, help="busy processes beside the probes")
    sf.add_argument("--save", metavar="NAME")
    sf.add_argument("--results", default="perf-results")
    sf.set_defaults(func=_schedfloor)
    rc = sub.add_parser("recall", help="LoCoMo recall through the service, beside BM25 and exact cosine")
    rc.add_argument("--embedder", choices=["hash", "minilm"], default="minilm")
    rc.add_argument("--conversations", type=int, metavar="N", help="the first N conversations (default: all)")
    rc.add_argument("--path", default=str(DEFAULT_LOCOMO), help="folder of LoCoMo conversations (*.json)")
    rc.add_argument("--cluster", type=int, default=0, metavar="N", help="start N replicas in cluster mode instead")
    rc.add_argument("--url", help="a running service (or a cluster behind HAProxy) instead of one started here")
    rc.add_argument("--api-key-file", metavar="FILE", help="the bearer key for --url, read from a file")
    rc.add_argument("--save", metavar="NAME")
    rc.add_argument("--results", default="perf-results")
    rc.set_defaults(func=_recall)
    bb = sub.add_parser("bench", help="every measurement: smoke-sized, or --full")
    bb.add_argument("--full", action="store_true", help="10k and 100k, both embedders, sweep 1..64 (long)")
    bb.add_argument("--results", default="perf-results")
    bb.set_defaults(func=_bench)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
