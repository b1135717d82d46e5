"""The `jean-memory` command: `serve` runs the service."""

from __future__ import annotations

import argparse
import logging
import sys

from jean_memory.config import Settings


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from jean_memory.app import create_app

    settings = Settings()
    logging.basicConfig(
        level=settings.log_level.upper(), stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    app = create_app(settings)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level=settings.log_level.lower(),
        lifespan="on",
        timeout_graceful_shutdown=10,
    )
    return 0


def _baseline(args: argparse.Namespace) -> int:
    from pathlib import Path

    from jean_memory.perf.baseline import Scenario, run, table

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
    if save:
        print(f"saved {save}")
    return 0


def _overhead(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from jean_memory.perf.overhead import run, table

    results = run(rounds=args.rounds, seconds=args.seconds, connections=args.connections)
    print(table(results))
    if args.save:
        path = Path(args.results) / f"{args.save}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(results, indent=2, sort_keys=True))
        print(f"saved {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="jean-memory", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="run the HTTP service (settings from JM_* variables)").set_defaults(func=_serve)
    b = sub.add_parser("baseline", help="measure latency and throughput over HTTP; save JSON")
    b.add_argument("--embedder", nargs="+", default=["hash"], choices=["hash", "minilm"])
    b.add_argument("--memories", nargs="+", type=int, default=[10_000])
    b.add_argument("--per-user", type=int, default=1000, help="memories per user in the preload")
    b.add_argument("--index", default="auto", choices=["auto", "flat", "hnsw", "sq8"])
    b.add_argument("--rate", type=float, default=500.0, help="offered requests/s for latency runs")
    b.add_argument("--duration", type=float, default=10.0, help="seconds per latency run")
    b.add_argument("--save", metavar="NAME", help="save the JSON report as RESULTS/NAME.json")
    b.add_argument("--results", default="perf-results", help="folder of saved reports")
    b.set_defaults(func=_baseline)
    o = sub.add_parser("overhead", help="telemetry off vs lean vs stock OpenTelemetry, side by side (wrk)")
    o.add_argument("--rounds", type=int, default=3)
    o.add_argument("--seconds", type=float, default=5.0)
    o.add_argument("--connections", type=int, default=16)
    o.add_argument("--save", metavar="NAME")
    o.add_argument("--results", default="perf-results")
    o.set_defaults(func=_overhead)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
