"""The service (`python -m jean_memory serve`) and its synthetic user (`python -m jean_memory canary`) as
subprocesses, on free ports, waited for until ready."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from jean_memory_dev.mixin import load
from jean_memory_dev.processes.spawn import free_port, spawn, stop_group, wait_http


class ServiceProcess:
    """The service as a subprocess (`python -m jean_memory serve`), configured by JM_* variables."""

    def __init__(
        self,
        data_dir: Path,
        env: Mapping[str, str] | None = None,
        port: int | None = None,
        log_path: Path | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.env = {"JM_EMBEDDER": "hash", **(env or {})}
        self.log_path = log_path or data_dir.parent / f"service-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, wait: str = "/readyz", timeout_s: float = 120.0) -> ServiceProcess:
        env = {
            **os.environ,
            **self.env,
            "JM_PORT": str(self.port),
            "JM_HOST": "127.0.0.1",
            "JM_DATA_DIR": str(self.data_dir),
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
        }
        self.proc = spawn([sys.executable, "-m", "jean_memory", "serve"], self.log_path, env)
        wait_http(self.url + wait, timeout_s, self.proc)
        return self

    def kill(self) -> None:
        """kill -9 of the whole process group: no shutdown hook runs, nothing drains (a crash)."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def terminate(self, timeout_s: float = 60.0) -> int | None:
        """SIGTERM to the service alone, as an orchestrator stops a container, then wait for it to exit.

        The service drains (`JM_DRAIN_S`: not ready, still serving), finishes what is in flight and
        exits; only past `timeout_s` is the group killed. Returns the exit status (None: never started).
        """
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        with contextlib.suppress(ProcessLookupError):  # helpers the service left behind, if any
            os.killpg(self.proc.pid, signal.SIGKILL)
        return self.proc.returncode

    def stop(self) -> None:
        stop_group(self.proc)

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class CanaryProcess:
    """The synthetic user as a subprocess (`python -m jean_memory canary`), against `target` (the service,
    or HAProxy's front door), serving its metrics on `port`; `interval_s` and `search_timeout_s` come from
    the thresholds file's `canary` section (production's, or the drill's with `fast`)."""

    def __init__(
        self,
        target: str,
        port: int,
        log_path: Path,
        *,
        fast: bool = False,
        api_key_file: Path | None = None,
        schedule: tuple[float, float] | None = None,
    ) -> None:
        self.target = target
        self.port = port
        self.log_path = log_path
        #: (interval, search timeout): the config's unless a test says otherwise.
        self.interval_s, self.search_timeout_s = schedule or load().canary.schedule(fast)
        self.api_key_file = api_key_file
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/metrics"

    def start(self, timeout_s: float = 30.0) -> CanaryProcess:
        cmd = [
            sys.executable, "-m", "jean_memory", "canary",
            "--url", self.target,
            "--port", str(self.port),
            "--interval", f"{self.interval_s:g}",
            "--search-timeout", f"{self.search_timeout_s:g}",
        ]  # fmt: skip
        if self.api_key_file is not None:
            cmd += ["--api-key-file", str(self.api_key_file)]
        self.proc = spawn(cmd, self.log_path, dict(os.environ))
        wait_http(self.metrics_url, timeout_s, self.proc)
        return self

    def stop(self) -> None:
        stop_group(self.proc)
