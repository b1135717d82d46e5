"""Jean Memory / Probes: the service seen from outside (blackbox exporter): `/readyz` through HAProxy (the
front door, `role` front) and on each replica (`role` replica). The probes are another job's series, by
probed URL: the replica filter does not apply to them."""

from jean_memory_dev.mixin import boards
from jean_memory_dev.mixin.dashboards.common import CONFIG, make_dashboard, target, timeseries

INFRA = CONFIG.infrastructure
PROBE = f'job="{INFRA.probe_job}"'

dashboard = make_dashboard(
    boards.PROBES,
    [
        timeseries(
            "Probe success",
            [target(f"probe_success{{{PROBE}}}", "{{role}} {{instance}}")],
            (0, 0, 24, 8),
            "short",
            description="1 while GET /readyz answers 200 within the probe's timeout. The front door failing pages "
            "(users cannot reach the service); a replica failing is drawn here, and alerted by its own scrape.",
            valueMin=0,
            valueMax=1,
        ),
        timeseries(
            "Probe duration",
            [target(f"probe_duration_seconds{{{PROBE}}}", "{{role}} {{instance}}")],
            (0, 8, 12, 8),
            "s",
            description="How long the whole probe took (connect, request, answer), as a user would wait.",
        ),
        timeseries(
            "HTTP status",
            [target(f"probe_http_status_code{{{PROBE}}}", "{{role}} {{instance}}")],
            (12, 8, 12, 8),
            "short",
            description="The status /readyz answered (0: no answer at all; 503: up but not ready, draining or "
            "cut off from its store).",
        ),
    ],
    tags=("jean-memory", "probes"),
)
