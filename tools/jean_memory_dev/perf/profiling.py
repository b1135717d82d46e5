"""Profile the domain operations in-process (no HTTP): cProfile (a .prof file) and pyinstrument (HTML).

Like the product plan's recipe, it drives the use cases directly (the composition root's `writes` and
`reads`), so the profile shows the service's own work: the journal commit, the tiers, the caches,
the embedding worker.
"""

from __future__ import annotations

import asyncio
import cProfile
import io
import pstats
import random
import shutil
import tempfile
from pathlib import Path

from jean_memory.config import Settings
from jean_memory.container import Container
from jean_memory.core.writes import NewMemory
from jean_memory.embedding import make_embedder
from jean_memory.storage.ltm import open_store
from jean_memory.telemetry.core import Telemetry
from jean_memory_dev.perf.workload import sentence


async def workload(service: Container, kind: str, n: int) -> None:
    rng = random.Random(3)
    users = [f"user{i}" for i in range(20)]
    if kind in ("add", "mixed"):
        for i in range(n):
            await service.writes.add(users[i % 20], [NewMemory(sentence(rng), {}, 0.5)])
    if kind in ("search", "mixed"):
        for u in users:
            await service.writes.add(u, [NewMemory(sentence(rng), {}, 0.5) for _ in range(200)], mode="batch")
        queries = [sentence(rng, 4) for _ in range(100)]
        for i in range(n):
            await service.reads.search(users[i % 20], queries[i % len(queries)], 10, None)


async def _run(settings: Settings, kind: str, n: int, profiler: cProfile.Profile, html: Path | None) -> str:
    """Returns pyinstrument's HTML ('' without `html`); the caller writes it, off the event loop."""
    page = ""
    service = Container(settings, Telemetry(settings), make_embedder(settings), open_store(settings))
    await service.start()
    try:
        if html is not None:
            from pyinstrument import Profiler

            with Profiler(async_mode="enabled") as pi:
                await workload(service, kind, n)
            page = pi.output_html()
        profiler.enable()
        await workload(service, kind, n)
        profiler.disable()
    finally:
        await service.close()
    return page


def profile(kind: str, n: int, embedder: str, out: Path) -> str:
    """Run the workload twice (pyinstrument, then cProfile); write out.prof and out.html; return the top."""
    data = Path(tempfile.mkdtemp(prefix="jm-profile-"))
    try:
        settings = Settings(data_dir=data, embedder=embedder, telemetry="lean")  # type: ignore[arg-type]
        profiler = cProfile.Profile()
        out.parent.mkdir(parents=True, exist_ok=True)
        html = out.with_suffix(".html")
        html.write_text(asyncio.run(_run(settings, kind, n, profiler, html)))
        profiler.dump_stats(str(out.with_suffix(".prof")))
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(25)
        return text.getvalue()
    finally:
        shutil.rmtree(data, ignore_errors=True)
