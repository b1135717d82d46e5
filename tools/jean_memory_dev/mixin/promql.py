"""The PromQL builders: the expressions the recording and alert rules, the dashboards and the drill all
read, built from a selector and a grouping so that a panel filtered by replica and the rule an alert reads
are one text. A module of their own (pure string functions, importing only the SLO names) so that the
dashboards can use them without importing the rules, which link to the dashboards' panels.

    >>> error_ratio('job="jean-memory"', "5m")                                   # the recording rule
    >>> error_ratio('job="jean-memory", instance=~"$instance"', "5m", by=())    # a panel
"""

from __future__ import annotations

from collections.abc import Sequence

from jean_memory_dev.mixin.slos import CANARY_ROUNDS, CANARY_SEARCHABLE

HTTP = "http_server_request_duration_seconds"
JOB: tuple[str, ...] = ("job",)
#: The SLO's request counts keep the replica: the dashboards sum the ones their `instance` variable picks.
JOB_INSTANCE: tuple[str, ...] = ("job", "instance")


def total(expr: str, by: Sequence[str] = JOB) -> str:
    """`sum by (job) (expr)`; with no labels, `sum(expr)`: a panel's sum over the replicas it selects."""
    return f"sum by ({', '.join(by)}) ({expr})" if by else f"sum({expr})"


def api(sel: str) -> str:
    """The selector narrowed to the public API (`/v1/...`): what the latency and SLO rules measure."""
    return f'{sel}, http_route=~"/v1/.*"'


def requests_rate(sel: str, window: str, by: Sequence[str] = JOB) -> str:
    return total(f"rate({HTTP}_count{{{sel}}}[{window}])", by)


def error_ratio(sel: str, window: str, by: Sequence[str] = JOB) -> str:
    """5xx share of requests; 0 (not "no data") while no 5xx series exists yet."""
    requests = requests_rate(sel, window, by)
    errors = total(f'rate({HTTP}_count{{{sel}, http_response_status_class="5xx"}}[{window}])', by)
    return f"(\n  {errors}\n  or\n  0 * {requests}\n)\n/\n{requests}"


def cache_hit_ratio(sel: str, window: str, by: Sequence[str] = JOB) -> str:
    """Every search looks in L1; on a miss it looks in L2. Model avoided = L1 hits + L2 hits."""
    hits = total(f'rate(jm_cache_hits_total{{{sel}, level=~"l1|l2"}}[{window}])', by)
    lookups = total(
        f'rate(jm_cache_hits_total{{{sel}, level="l1"}}[{window}]) '
        f'+ rate(jm_cache_misses_total{{{sel}, level="l1"}}[{window}])',
        by,
    )
    return f"{hits}\n/\n{lookups}"


def operations_rate(sel: str, window: str, by: Sequence[str] = JOB) -> str:
    """Memory creations plus searches per second: the product plan's throughput."""
    creations = total(f"rate(jm_memory_creation_duration_seconds_count{{{sel}}}[{window}])", by)
    searches = total(f"rate(jm_search_duration_seconds_count{{{sel}}}[{window}])", by)
    return f"{creations}\n+\n{searches}"


def slo_error_ratio(sel: str, window: str, by: Sequence[str] = JOB) -> str:
    """The availability SLI's bad share over `window`, from the per-replica counts recorded below."""
    errors = total(f"jm:slo_availability_errors:rate{window}{{{sel}}}", by)
    return f"{errors}\n/\n{total(f'jm:slo_requests:rate{window}{{{sel}}}', by)}"


def slo_slow_ratio(sel: str, window: str, by: Sequence[str] = JOB) -> str:
    """The latency SLI's bad share over `window`: requests not faster than the threshold."""
    good = total(f"jm:slo_latency_good:rate{window}{{{sel}}}", by)
    return f"1 - (\n  {good}\n  /\n  {total(f'jm:slo_requests:rate{window}{{{sel}}}', by)}\n)"


def recall_miss_ratio(sel: str, window: str, by: Sequence[str] = JOB) -> str:
    """The recall SLI's bad share over `window`: the golden set's expected ids not found in the top k (empty
    while no replay runs: no golden set, or no replay in the window)."""
    hits = total(f"rate(jm_golden_hits_total{{{sel}}}[{window}])", by)
    expected = total(f"rate(jm_golden_expected_total{{{sel}}}[{window}])", by)
    return f"1 - (\n  {hits}\n  /\n  ({expected} > 0)\n)"


def p99(metric: str, sel: str, window: str) -> str:
    return f"histogram_quantile(0.99, sum by (job, le) (rate({metric}_bucket{{{sel}}}[{window}])))"


def creation_p99(sel: str, window: str) -> str:
    """Memory creation p99 over `window` (the drill also reads it over its whole healthy window)."""
    return p99("jm_memory_creation_duration_seconds", sel, window)


def le_label(seconds: float) -> str:
    """A bucket boundary as prometheus-client writes it (`1` -> `1.0`, `0.025` -> `0.025`)."""
    return repr(float(seconds))


def route_slow_ratio(sel: str, route: str, le: float, window: str, by: Sequence[str] = JOB) -> str:
    """A route's (POST) bad share: its requests not faster than `le`."""
    r = f'{sel}, http_route="{route}", http_request_method="POST"'
    good = total(f'rate({HTTP}_bucket{{{r}, le="{le}"}}[{window}])', by)
    return f"1 - (\n  {good}\n  /\n  {total(f'rate({HTTP}_count{{{r}}}[{window}])', by)}\n)"


def canary_success_ratio(sel: str, window: str, by: Sequence[str] = JOB) -> str:
    """The share of the synthetic user's rounds that succeeded over `window`."""
    good = total(f'rate({CANARY_ROUNDS}{{{sel}, result="success"}}[{window}])', by)
    return f"{good}\n/\n{total(f'rate({CANARY_ROUNDS}{{{sel}}}[{window}])', by)}"


def canary_late_ratio(sel: str, le: float, window: str, by: Sequence[str] = JOB) -> str:
    """The share of rounds whose memory was not found by meaning within `le` (failed rounds included)."""
    good = total(f'rate({CANARY_SEARCHABLE}_bucket{{{sel}, le="{le_label(le)}"}}[{window}])', by)
    return f"1 - (\n  {good}\n  /\n  {total(f'rate({CANARY_ROUNDS}{{{sel}}}[{window}])', by)}\n)"


def canary_searchable_p99(sel: str, window: str, by: Sequence[str] = JOB) -> str:
    return f"histogram_quantile(0.99, {total(f'rate({CANARY_SEARCHABLE}_bucket{{{sel}}}[{window}])', (*by, 'le'))})"


FIVE_XX = 'http_response_status_class="5xx"'
#: The trend rules' prefix: what the Trends dashboard reads.
TREND = "jm:trend_"


def trend_name(figure: str, window: str, op: str = "rate") -> str:
    """`trend_name("operations", "1h")` -> `jm:trend_operations:rate1h` (sums and counts are rates too)."""
    return f"{TREND}{figure}:{op}{window}"
