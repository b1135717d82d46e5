"""Write every file the monitoring mixin generates; `--check` fails when one is stale or orphaned.

    jean-memory-dev generate            # or: make generate
    jean-memory-dev generate --check    # exit 1, listing stale files and orphans (CI, make check)

From `alerts/thresholds.yaml`, the catalogue, the runbook templates, the dashboards and the service's
code: recording rules and alert rules (production and the drill's fast copy), the promtool tests, the
runbooks, the dashboards' JSON, the service's thresholds module, the collector's tail-sampling layer and
`docs/reference/*.md` (with the index of the tests by module, `testindex.py`). Output is
deterministic (insertion-ordered YAML, sorted-key JSON), so a diff means a source changed. An orphan is
a file in a generated-only folder (`layout.GENERATED_DIRS`) that no source produces any more, such as
the runbook of a renamed alert: `--check` reports it, a plain run deletes it.
"""

from __future__ import annotations

import argparse
import pprint
import sys
from pathlib import Path

from jean_memory_dev.mixin import dashboards, docs, layout, promtool, rules, runbooks, sampling
from jean_memory_dev.mixin.config import Config, Variant, load
from jean_memory_dev.mixin.context import Context
from jean_memory_dev.mixin.output import HEADER, to_yaml
from jean_memory_dev.paths import ROOT
from jean_memory_dev.testindex import INDEX, page


def service_thresholds(config: Config) -> str:
    """The service's `/metrics/dashboard` breach flags compare against this module; the service never
    reads YAML (pyyaml is not a runtime dependency)."""
    body = pprint.pformat(config.service_thresholds(), width=110, sort_dicts=True)
    return f'"""{HEADER}"""\n\nfrom typing import Any\n\nTHRESHOLDS: dict[str, Any] = {body}\n'


def outputs(config: Config) -> dict[Path, str]:
    """Every generated file, by path, with the text it must have."""
    production, fast = Context(config, Variant.PRODUCTION), Context(config, Variant.FAST)
    out: dict[Path, str] = {layout.SERVICE_THRESHOLDS: service_thresholds(config)}
    out[layout.COLLECTOR_SAMPLING] = to_yaml(sampling.collector_layer(config))
    for ctx in (production, fast):
        is_fast = ctx.variant is Variant.FAST
        out[layout.recording_rules(is_fast)] = to_yaml(rules.recording_rules(ctx))
        out[layout.alert_rules(is_fast)] = to_yaml(rules.alert_rules(ctx))
    out[layout.PROMTOOL_TESTS] = to_yaml(promtool.test_file(production))
    out.update(runbooks.runbooks(production))
    out.update({layout.DASHBOARDS_JSON / f"{uid}.json": text for uid, text in dashboards.render().items()})
    out.update(docs.pages(production))
    out[INDEX] = page()
    return out


def orphans(wanted: dict[Path, str], folders: tuple[Path, ...] = layout.GENERATED_DIRS) -> list[Path]:
    """Files in generated-only folders (not their subfolders: runbook templates are sources) that no
    source produces."""
    found = {p for folder in folders if folder.is_dir() for p in folder.iterdir() if p.is_file()}
    return sorted(found - set(wanted))


def stale(wanted: dict[Path, str]) -> list[Path]:
    """Generated files that are missing or differ from what their sources give now."""
    return [p for p, text in wanted.items() if not p.is_file() or p.read_text() != text]


def problems(wanted: dict[Path, str] | None = None, folders: tuple[Path, ...] = layout.GENERATED_DIRS) -> list[str]:
    """What `--check` reports, relative to the checkout; empty when everything is up to date."""
    wanted = outputs(load()) if wanted is None else wanted
    return [f"stale: {p.relative_to(ROOT)}" for p in stale(wanted)] + [
        f"orphan: {p.relative_to(ROOT)}" for p in orphans(wanted, folders)
    ]


def write(wanted: dict[Path, str]) -> tuple[list[Path], list[Path]]:
    """Write what changed and delete orphans; returns (written, deleted)."""
    changed, gone = stale(wanted), orphans(wanted)
    for path in changed:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(wanted[path])
    for path in gone:
        path.unlink()
    return changed, gone


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="jean-memory-dev generate", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a file is stale or orphaned")
    args = parser.parse_args(argv)
    wanted = outputs(load())
    if args.check:
        found = problems(wanted)
        if found:
            print("generated files are out of date (run `make generate`):", *found, sep="\n  ", file=sys.stderr)
            return 1
        return 0
    changed, gone = write(wanted)
    for path in changed:
        print(f"wrote {path.relative_to(ROOT)}")
    for path in gone:
        print(f"deleted orphan {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
