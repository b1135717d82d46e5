"""Generated files must match their sources: regenerate with `make generate`."""

from __future__ import annotations

from jean_memory.config import Settings
from jean_memory_dev.mixin import docs, generate


def test_generated_files_match_their_sources() -> None:
    """Rules, promtool tests, runbooks, dashboards, the service's thresholds module and the reference
    docs, checked in-process exactly as `jean-memory-dev generate --check` does (stale files and orphans)."""
    assert generate.problems() == [], "generated files are stale: run make generate"


def test_every_setting_is_documented() -> None:
    reference = docs.SETTINGS.read_text()
    for name in Settings.model_fields:
        assert f"`JM_{name.upper()}`" in reference
