"""Generate the README's reference tables from the code: settings and metrics.

The tables sit between `<!-- NAME:start -->` and `<!-- NAME:end -->` markers; `--check` fails when
the committed README differs from what the code says (the drift test runs it).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from pathlib import Path

from jean_memory.config import Settings
from jean_memory.telemetry.metrics import metric_docs


def _default(value: object) -> str:
    if isinstance(value, frozenset):
        return "(unset)" if not value else ",".join(sorted(value))
    if hasattr(value, "value"):
        value = value.value
    text = str(value)
    return "(empty)" if text == "" else text


def settings_table() -> str:
    rows = ["| Variable | Default | Meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        desc = (field.description or "").replace("|", "\\|")
        rows.append(f"| `JM_{name.upper()}` | `{_default(field.default)}` | {desc} |")
    return "\n".join(rows)


def metrics_table() -> str:
    rows = ["| Metric | Type | Unit | Labels | Meaning |", "|---|---|---|---|---|"]
    for d in metric_docs():
        labels = ", ".join(f"`{lbl}`" for lbl in d.labels) or "-"
        rows.append(f"| `{d.name}` | {d.kind} | {d.unit or '-'} | {labels} | {d.help} |")
    return "\n".join(rows)


SECTIONS: dict[str, Callable[[], str]] = {"settings": settings_table, "metrics": metrics_table}


def render(text: str) -> str:
    for name, make in SECTIONS.items():
        pattern = re.compile(rf"(<!-- {name}:start -->\n)(.*?)(<!-- {name}:end -->)", re.S)
        match = pattern.search(text)
        if match:
            text = text[: match.start(2)] + make() + "\n" + text[match.end(2) :]
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("readme", type=Path)
    parser.add_argument("--check", action="store_true", help="fail if the file is not up to date")
    args = parser.parse_args(argv)
    current = args.readme.read_text()
    wanted = render(current)
    if args.check:
        if wanted != current:
            print(f"{args.readme}: generated tables are stale; run scripts/generate", file=sys.stderr)
            return 1
        return 0
    args.readme.write_text(wanted)
    return 0


if __name__ == "__main__":
    sys.exit(main())
