"""Input series for promtool cases: counters, gauges and histograms over minutes, written as promtool's
expanding notation (`0+60x30`)."""

from __future__ import annotations

from jean_memory.telemetry.metrics import SCORE_BUCKETS
from jean_memory_dev.mixin.promql import HTTP

BUCKETS = (
    "0.00025",
    "0.0005",
    "0.001",
    "0.0025",
    "0.005",
    "0.01",
    "0.025",
    "0.05",
    "0.1",
    "0.25",
    "0.5",
    "1.0",
    "2.5",
    "5.0",
    "10.0",
    "+Inf",
)


def counter(name: str, labels: dict[str, str], per_min: float, minutes: int, start: float = 0) -> dict[str, str]:
    body = ", ".join(f'{k}="{v}"' for k, v in labels.items())
    return {"series": f"{name}{{{body}}}", "values": f"{start:g}+{per_min:g}x{minutes}"}


def gauge(name: str, labels: dict[str, str], value: float, minutes: int) -> dict[str, str]:
    body = ", ".join(f'{k}="{v}"' for k, v in labels.items())
    return {"series": f"{name}{{{body}}}", "values": f"{value:g}x{minutes}"}


def histogram(name: str, labels: dict[str, str], per_min: float, bucket: str, minutes: int) -> list[dict[str, str]]:
    """Every observation lands in `bucket`: cumulative buckets below it stay at 0."""
    out = []
    hit = False
    for le in BUCKETS:
        hit = hit or le == bucket
        out.append(counter(f"{name}_bucket", {**labels, "le": le}, per_min if hit else 0, minutes))
    out.append(counter(f"{name}_count", labels, per_min, minutes))
    return out


def http(job: str, cls: str, per_min: float, minutes: int, route: str = "/v1/search") -> dict[str, str]:
    labels = {"job": job, "http_request_method": "POST", "http_route": route, "http_response_status_class": cls}
    return counter(f"{HTTP}_count", labels, per_min, minutes)


def score_series(labels: dict[str, str], segments: list[tuple[str, int]]) -> list[dict[str, str]]:
    """jm_search_top_score's buckets when 60 searches a minute score in bucket `le` for `minutes`, one
    segment after the other (cumulative buckets at and above it grow, those below stay)."""
    out = []
    for le in [f"{b:g}" for b in SCORE_BUCKETS] + ["+Inf"]:
        values: list[str] = []
        count = 0
        for bucket, minutes in segments:
            per_min = 60 if float(le) >= float(bucket) else 0
            if values:  # later segments go on from where the previous one ended
                values.append(f"{count + per_min}+{per_min}x{minutes - 1}")
            else:
                values.append(f"0+{per_min}x{minutes}")
            count += per_min * minutes
        body = ", ".join(f'{k}="{v}"' for k, v in {**labels, "le": le}.items())
        out.append({"series": f"jm_search_top_score_bucket{{{body}}}", "values": " ".join(values)})
    return out
