"""The `jean-memory` command: `serve` runs the service; `mcp` serves its MCP tools over stdio for desktop
clients, forwarding to a running service; `export-model` makes the ONNX model bundle
(where the `export` extra, with torch, is installed: the image's build stage); `backup` and `restore`
copy the embedded mode's files (`storage/backup.py`); `canary` runs the synthetic user (`canary.py`)."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType

import uvicorn
from pydantic import ValidationError

from jean_memory.config import Settings
from jean_memory.storage.datadir import DataDirBusy, DataDirLock, make_private, tighten


def _settings() -> Settings:
    """The settings, or a stop with one line per bad setting naming the variable and never its value
    (a key in JM_API_KEYS must not reach a terminal or a log because another setting was wrong)."""
    try:
        return Settings()
    except ValidationError as exc:
        lines = []
        for error in exc.errors(include_input=False, include_url=False):
            loc = "_".join(str(part) for part in error["loc"])  # empty: a check across settings, named inside
            name = f"{loc if loc.isupper() else 'JM_' + loc.upper()}: " if loc else ""  # OTEL_*: as spelt
            lines.append(f"  {name}{str(error['msg']).removeprefix('Value error, ')}")
        raise SystemExit("jean-memory: invalid settings (values not shown):\n" + "\n".join(lines)) from None


class DrainingServer(uvicorn.Server):
    """uvicorn, with a drain before the graceful stop: on the first SIGTERM the service stops being ready
    (`/readyz` 503, responses say `Connection: close`) but keeps serving for `drain_s`, so a load
    balancer's health checks move traffic away before the listener closes; then uvicorn finishes the
    requests in flight and exits. A second signal stops at once (gracefully)."""

    def __init__(self, config: uvicorn.Config, drain_s: float, on_drain: Callable[[], None]) -> None:
        super().__init__(config)
        self._drain_s = drain_s
        self._on_drain = on_drain
        self._draining = False

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._drain_s <= 0 or self._draining or sig != signal.SIGTERM:
            super().handle_exit(sig, frame)
            return
        self._draining = True
        self._on_drain()
        logging.getLogger(__name__).info("SIGTERM: draining for %.1f s, then stopping", self._drain_s)
        timer = threading.Timer(self._drain_s, super().handle_exit, (sig, frame))
        timer.daemon = True
        timer.start()


def _serve(args: argparse.Namespace) -> int:
    from jean_memory.app import create_app
    from jean_memory.connections import protocol_for
    from jean_memory.startup import export_notice, summary
    from jean_memory.telemetry.logs import configure_logging

    settings = _settings()
    configure_logging(settings.log_level, settings.log_format)  # uvicorn's loggers too (log_config=None)
    log = logging.getLogger(__name__)
    log.info("%s", summary(settings))
    for warning in settings.start_warnings():
        log.warning("%s", warning)
    if notice := export_notice(settings):
        log.info("%s", notice)
    sys.setswitchinterval(settings.gil_switch_interval_ms / 1000)
    lock = _own_data_dir(settings, "serve", listen=f"{settings.host}:{settings.port}")
    if lock is None:
        return 1
    if settings.slow_callback_ms > 0:  # every callback timed: needs asyncio's own loop (see telemetry/loopholds)
        from jean_memory.telemetry import loopholds

        loopholds.install(settings.slow_callback_ms)
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop="asyncio" if settings.slow_callback_ms > 0 else "uvloop",
        # httptools, with a bounded request head, deadlines and a cap on connections
        http=protocol_for(settings, app.state.telemetry.metrics.connections),
        timeout_keep_alive=settings.keep_alive_timeout_s,
        backlog=settings.backlog,
        access_log=False,
        log_config=None,  # its records go to the root logger, in JM_LOG_FORMAT
        log_level=settings.log_level.lower(),
        lifespan="on",
        timeout_graceful_shutdown=10,
    )

    def drain() -> None:
        container = getattr(app.state, "container", None)
        if container is not None:
            container.start_draining()

    try:
        DrainingServer(config, settings.drain_s, drain).run()
    finally:
        lock.release()
    return 0


def _own_data_dir(settings: Settings, command: str, listen: str | None = None) -> DataDirLock | None:
    """Make what this process creates private, tighten the data folder, and take it; None (after saying
    why on stderr) when another process holds it."""
    make_private()
    tighten(settings.data_dir)
    try:
        return DataDirLock(settings.data_dir, command, listen=listen).acquire()
    except DataDirBusy as exc:
        print(f"jean-memory {command}: {exc}", file=sys.stderr)
        return None


def _export_model(args: argparse.Namespace) -> int:
    from pathlib import Path

    from jean_memory.embedding.export import export_bundle

    logging.basicConfig(level="WARNING", stream=sys.stderr, format="%(levelname)s %(name)s %(message)s")
    logging.getLogger("jean_memory").setLevel("INFO")
    settings = _settings()
    cache = Path(args.cache).expanduser() if args.cache else settings.model_cache
    folder = export_bundle(args.model or settings.embedding_model, cache, int8=args.int8)
    for path in sorted(folder.iterdir()):
        print(f"{path}  {path.stat().st_size:,} bytes")
    return 0


def _backup(args: argparse.Namespace) -> int:
    from pathlib import Path

    from jean_memory.storage.backup import BackupError, backup

    settings = _settings()
    lock = _own_data_dir(settings, "backup")
    if lock is None:
        return 1
    try:
        manifest = backup(settings, Path(args.dest), pages=args.pages, pause_s=args.pause_ms / 1000)
    except BackupError as exc:
        print(f"jean-memory backup: {exc}", file=sys.stderr)
        return 1
    finally:
        lock.release()
    for role, f in manifest["files"].items():
        print(f"{role}: {args.dest}/{f['name']}  {f['bytes']:,} bytes, {f['rows']:,} rows, {f['seconds']} s")
    return 0


def _restore(args: argparse.Namespace) -> int:
    from pathlib import Path

    from jean_memory.storage.backup import BackupError, restore

    settings = _settings()
    lock = _own_data_dir(settings, "restore")
    if lock is None:
        return 1
    try:
        manifest = restore(settings, Path(args.src), force=args.force)
    except BackupError as exc:
        print(f"jean-memory restore: {exc}", file=sys.stderr)
        return 1
    finally:
        lock.release()
    for role, f in manifest["files"].items():
        print(f"{role}: {f['name']} restored into {settings.data_dir} ({f['rows']:,} rows, integrity checked)")
    return 0


def _canary(args: argparse.Namespace) -> int:
    from jean_memory import canary

    return canary.main(args)


#: `jean-memory mcp`'s defaults: it is a client of the service, so it reads its own two variables, not JM_*.
MCP_URL_ENV = "JEAN_MEMORY_URL"


def _mcp(args: argparse.Namespace) -> int:
    """The key comes from the environment only: an option would show it in every process listing."""
    from jean_memory.mcp import stdio

    return stdio.main(args.url, os.environ.get(stdio.KEY_ENV) or None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="jean-memory", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="run the HTTP service (settings from JM_* variables)").set_defaults(func=_serve)
    m = sub.add_parser("mcp", help="serve the MCP tools over stdio, forwarding to a running service")
    m.add_argument(
        "--url",
        default=os.environ.get(MCP_URL_ENV, "http://127.0.0.1:8766"),
        help=f"the service (default ${MCP_URL_ENV} or http://127.0.0.1:8766); its key: $JEAN_MEMORY_API_KEY",
    )
    m.set_defaults(func=_mcp)
    e = sub.add_parser("export-model", help="export the MiniLM model to an ONNX bundle (needs the export extra)")
    e.add_argument("--cache", help="bundle folder parent (default JM_MODEL_CACHE)")
    e.add_argument("--model", help="sentence-transformers model (default JM_EMBEDDING_MODEL)")
    e.add_argument("--int8", action="store_true", help="also make the int8-quantised model")
    e.set_defaults(func=_export_model)
    b = sub.add_parser("backup", help="consistent online copy of the journal and the SQLite store (service running)")
    b.add_argument("dest", help="a new or empty folder")
    b.add_argument("--pages", type=int, default=1024, help="pages copied per step (default 1024)")
    b.add_argument("--pause-ms", type=float, default=2.0, help="pause between steps (default 2 ms)")
    b.set_defaults(func=_backup)
    r = sub.add_parser("restore", help="put a backup in place in JM_DATA_DIR (service stopped)")
    r.add_argument("src", help="a folder written by `jean-memory backup`")
    r.add_argument("--force", action="store_true", help="replace the files of a data folder that is not empty")
    r.set_defaults(func=_restore)
    from jean_memory.canary import add_arguments

    c = sub.add_parser("canary", help="the synthetic user: add, search until found, delete, on a schedule")
    add_arguments(c)
    c.set_defaults(func=_canary)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
