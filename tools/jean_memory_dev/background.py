"""Work on threads beside the caller's: a paced loop from `start` to `stop` (load shapes, probes and scrapers
share it), one call waited for later (`Beside`), several calls at once (`side_by_side`). What a call raises is
raised again in the caller's thread, where it is waited for."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence


class Background:
    """An action's loop on a thread, from `start` (in inject) to `stop` (in clear): `step()` again and
    again, each call starting `every_s` after the previous one started (0: back to back), so a load shape
    offers a steady rate whatever each call takes. Stopping twice, or before a start, is harmless."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.errors: list[str] = []

    def start(self, step: Callable[[], object], name: str, every_s: float = 0.0) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(step, every_s, self._stop), name=name, daemon=True)
        self._thread.start()

    def _run(self, step: Callable[[], object], every_s: float, stop: threading.Event) -> None:
        while not stop.is_set():
            started = time.monotonic()
            try:
                step()
            except Exception as exc:  # a shape keeps going; the drill reports what failed
                self.errors.append(repr(exc))
                time.sleep(0.2)
            if every_s:
                stop.wait(max(0.0, every_s - (time.monotonic() - started)))

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
            self._thread = None


class Beside:
    """One call on its own thread, started at once; `join()` waits for it and raises again what it raised."""

    def __init__(self, call: Callable[[], object], name: str = "beside") -> None:
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(call,), name=name, daemon=True)
        self._thread.start()

    def _run(self, call: Callable[[], object]) -> None:
        try:
            call()
        except BaseException as exc:  # raised again by join(), in the caller's thread
            self._error = exc

    def join(self) -> None:
        self._thread.join()
        if self._error is not None:
            raise self._error


def side_by_side(calls: Sequence[Callable[[], object]]) -> None:
    """Run the calls at once and wait for all of them; raise the first failure."""
    started = [Beside(call, name=f"side-by-side-{i}") for i, call in enumerate(calls)]
    errors: list[BaseException] = []
    for beside in started:
        try:
            beside.join()
        except BaseException as exc:  # every call is waited for before the first failure is raised
            errors.append(exc)
    if errors:
        raise errors[0]
