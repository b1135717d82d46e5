"""Render every `*.dashboard.py` to `json/<uid>.json` (sorted keys, stable UIDs); `--check` for drift."""

from __future__ import annotations

import argparse
import json
import runpy
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def render_all() -> dict[Path, str]:
    sys.path.insert(0, str(HERE))
    out = {}
    for source in sorted(HERE.glob("*.dashboard.py")):
        dashboard = runpy.run_path(str(source))["dashboard"]
        data = dashboard.to_json_data()
        text = json.dumps(data, sort_keys=True, indent=2, default=lambda o: o.to_json_data()) + "\n"
        out[HERE / "json" / f"{data['uid']}.json"] = text
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    rendered = render_all()
    stale = [p for p, text in rendered.items() if not p.exists() or p.read_text() != text]
    stale += [p for p in (HERE / "json").glob("*.json") if p not in rendered]
    if args.check:
        if stale:
            print("stale dashboards (run make generate):", *map(str, stale), sep="\n  ", file=sys.stderr)
            return 1
        return 0
    for path, text in rendered.items():
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
