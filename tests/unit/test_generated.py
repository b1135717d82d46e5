"""Generated files must match their sources: regenerate with `make generate`."""

from __future__ import annotations

from pathlib import Path

from jean_memory_dev import docgen

ROOT = Path(__file__).resolve().parents[2]


def test_readme_tables_match_the_code() -> None:
    readme = (ROOT / "README.md").read_text()
    assert docgen.render(readme) == readme, "README tables are stale: run make generate"


def test_every_setting_is_documented() -> None:
    readme = (ROOT / "README.md").read_text()
    for name in docgen.Settings.model_fields:
        assert f"`JM_{name.upper()}`" in readme
