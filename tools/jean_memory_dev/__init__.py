"""Jean Memory's development tooling: benchmarks, load, profiling, fire drills, the native stack,
the monitoring mixin's generator. Never installed in the production image; it drives the service
from the outside (HTTP, processes) and reads the repository's config files."""

__all__: list[str] = []
