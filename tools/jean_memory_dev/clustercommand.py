"""`make cluster` (= `scripts/cluster up`, = `jean-memory-dev cluster up`): start the native cluster in `.cluster/`.

`scripts/cluster down` stops it and `scripts/cluster status` says what runs, from any shell (pids and ports
are kept in `.cluster/state.json`). The stack itself is `cluster.ClusterStack`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from jean_memory_dev.cluster import ClusterStack, listening
from jean_memory_dev.nativestack import print_started, print_status
from jean_memory_dev.paths import ROOT


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="scripts/cluster", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument(
        "--replicas", type=int, default=int(os.environ.get("CLUSTER_REPLICAS", "3")), help="replicas (default 3)"
    )
    parser.add_argument("--standby", action="store_true", help="PostgreSQL with a synchronous streaming standby")
    parser.add_argument("--fast", action="store_true", help="drill timing: fast rules, 1 s scrape and evaluation")
    parser.add_argument("--folder", type=Path, default=ROOT / ".cluster", help="data, configs, logs (default .cluster)")
    parser.add_argument("--no-exporters", action="store_true", help="without the node, postgres and blackbox exporters")
    args = parser.parse_args(argv)
    stack = ClusterStack(
        args.folder,
        replicas=args.replicas,
        fast=args.fast,
        standby=args.standby,
        canary=True,
        exporters=not args.no_exporters,
    )
    if args.command == "up":
        if stack.state_file.exists():
            print(f"a cluster is already running from {stack.folder}: scripts/cluster down first", file=sys.stderr)
            return 1
        busy = [p for p in (stack.ports.haproxy, stack.ports.haproxy_stats, stack.ports.prometheus) if listening(p)]
        busy += [p for p in (stack.ports.alertmanager, stack.ports.receiver) if listening(p)]
        if busy:
            print(f"ports in use: {busy} (scripts/stack down? or set HAPROXY_PORT, ...)", file=sys.stderr)
            return 1
        return print_started(stack.up(), stack.logs, "scripts/cluster down")
    if args.command == "down":
        stack.down()
        return 0
    if not stack.state_file.exists():
        print(f"no cluster running from {stack.folder}", file=sys.stderr)
        return 1
    return print_status(stack.status())


if __name__ == "__main__":
    sys.exit(main())
