"""The collector's tail-sampling policy, from the thresholds file: the SLOs' latency thresholds are its numbers.

The collector keeps a trace when any policy says so (the `tail_sampling` processor ORs its policies):
every trace with a span in error (the service marks a 5xx's server span so), every trace slower than a
latency SLO's threshold on the routes that SLO measures, and `tail_sampling.keep_percent` of the rest.
Written to `otel-collector/tail-sampling.yaml`, a second `--config` the collector merges over
`config.yaml` (whose traces pipeline names the processor), so no number is typed twice.
"""

from __future__ import annotations

from typing import Any

from jean_memory_dev.mixin.config import Config, LatencyObjective
from jean_memory_dev.mixin.slos import ROUTES

#: Every route the service-wide latency SLO covers (`/v1`), as the processor's regular expression.
V1_ROUTES = "^/v1/.*"


def threshold_ms(objective: LatencyObjective) -> int:
    """The SLO's threshold in whole milliseconds (the processor's unit); one that is not whole is an error."""
    ms = float(objective.threshold_seconds) * 1000
    if abs(ms - round(ms)) > 1e-9:
        raise ValueError(f"latency threshold {objective.threshold_seconds} s is not a whole number of milliseconds")
    return round(ms)


def _slow(name: str, routes: list[str], regex: bool, objective: LatencyObjective) -> dict[str, Any]:
    route: dict[str, Any] = {"key": "http.route", "values": routes}
    if regex:
        route["enabled_regex_matching"] = True
    return {
        "name": name,
        "type": "and",
        "and": {
            "and_sub_policy": [
                {"name": f"{name}-route", "type": "string_attribute", "string_attribute": route},
                {"name": f"{name}-latency", "type": "latency", "latency": {"threshold_ms": threshold_ms(objective)}},
            ]
        },
    }


def policies(config: Config) -> list[dict[str, Any]]:
    slo = config.slo
    out: list[dict[str, Any]] = [
        {"name": "errors", "type": "status_code", "status_code": {"status_codes": ["ERROR"]}},
        _slow("slower-than-latency-slo", [V1_ROUTES], True, slo.latency),
    ]
    for key, route in ROUTES.items():
        out.append(_slow(f"slower-than-{key.replace('_', '-')}-slo", [route], False, getattr(slo, key)))
    out.append(
        {
            "name": "probabilistic-rest",
            "type": "probabilistic",
            "probabilistic": {"sampling_percentage": config.tail_sampling.keep_percent},
        }
    )
    return out


def collector_layer(config: Config) -> dict[str, Any]:
    """The collector config layer: only the processor; `config.yaml` puts it in the traces pipeline."""
    tail = config.tail_sampling
    return {
        "processors": {
            "tail_sampling": {
                "decision_wait": tail.decision_wait,
                "num_traces": tail.num_traces,
                "policies": policies(config),
            }
        }
    }
