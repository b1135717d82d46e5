"""The fire drill, in the suite: real load, real Prometheus and Alertmanager with the drill rules,
every fault injected, the right alert delivered within its derived bound and resolved, no false
positive under healthy load, every dashboard query answered. Stops every process it starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from jean_memory_dev.drill import FAULTS, Drill, table


@pytest.mark.slow
def test_fire_drill(tmp_path: Path) -> None:
    result = Drill(tmp_path / "drill", healthy_s=120).run()
    print(table(result))
    assert not result.failures, "\n".join(result.failures)
    assert [r["fault"] for r in result.faults] == [f.name for f in FAULTS]
    assert (tmp_path / "drill" / "drill-report.json").exists()
