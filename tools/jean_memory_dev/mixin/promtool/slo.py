"""promtool cases of the SLOs: per operation, over the period, the canary's, recall's, and the burn alerts
(both severities of a burn alert share a name)."""

from __future__ import annotations

from typing import Any

from jean_memory_dev.mixin.catalogue import Alert
from jean_memory_dev.mixin.config import Severity
from jean_memory_dev.mixin.promql import HTTP
from jean_memory_dev.mixin.promtool.cases import Cases
from jean_memory_dev.mixin.promtool.series import counter, http


def operation_slo_cases(c: Cases, j: dict[str, str]) -> list[dict[str, Any]]:
    """Half of the adds slower than 25 ms for 150 minutes burns add_latency's budget 50x: page and ticket,
    labelled with the SLO; half of the canary's rounds failing burns canary_success's (under its own job);
    99.5 % of adds fast stays inside the budget."""
    job, cases = j["job"], []
    add = {**j, "http_request_method": "POST", "http_route": "/v1/memories", "http_response_status_class": "2xx"}
    canary = {"job": c.config.canary.job, "instance": "canary:9465"}
    scenarios = [
        (
            [counter(f"{HTTP}_bucket", {**add, "le": "0.025"}, 50, 150), counter(f"{HTTP}_count", add, 100, 150)],
            job,
            "add_latency",
        ),
        (
            [
                counter("jm_canary_rounds_total", {**canary, "result": "success"}, 1, 150),
                counter("jm_canary_rounds_total", {**canary, "result": "not_found"}, 1, 150),
            ],
            c.config.canary.job,
            "canary_success",
        ),
    ]
    for series, series_job, slo in scenarios:
        expected = []
        for severity, factor in ((Severity.CRITICAL, "6"), (Severity.WARNING, "1")):
            desc = (
                f"The {slo} SLO's bad share is 50% over the long window, at least {factor}x the rate that "
                "spends its error budget over the SLO period (multiwindow, multi-burn-rate)."
            )
            summary = "A Jean Memory operation is burning its error budget" + (
                " fast" if severity is Severity.CRITICAL else ""
            )
            expected.append(
                {
                    "exp_labels": c.labels(severity, job=series_job, slo=slo),
                    "exp_annotations": {
                        **c.annotations(Alert.OPERATION_BUDGET_BURN, desc, "50%"),
                        "summary": summary,
                    },
                }
            )
        cases.append(c.case(Alert.OPERATION_BUDGET_BURN, series, "150m", expected))
    quiet = [counter(f"{HTTP}_bucket", {**add, "le": "0.025"}, 99.5, 150), counter(f"{HTTP}_count", add, 100, 150)]
    cases.append(c.case(Alert.OPERATION_BUDGET_BURN, quiet, "150m", []))
    return cases


def period_cases(c: Cases, j: dict[str, str]) -> list[dict[str, Any]]:
    """0.2 % of /v1 requests failing for an hour is twice the availability SLO's 0.1 % budget: -100 % of it
    left over the period, a ticket; 0.05 % leaves half of it, silence. The metadata series say the SLO."""
    job, cases = j["job"], []
    period = c.config.slo.period
    for errors, fires in ((0.2, True), (0.05, False)):
        series = [http(job, "5xx", errors, 60), http(job, "2xx", 100 - errors, 60)]
        exp = [
            {
                "exp_labels": c.labels(Severity.WARNING, job=job, slo="availability"),
                "exp_annotations": c.annotations(
                    Alert.ERROR_BUDGET_EXHAUSTED,
                    f"The availability SLO has -100% of its error budget left over the last {period}: it has "
                    "failed its objective for the period. Changes that risk it wait until the budget recovers.",
                    "-100%",
                ),
            }
        ]
        cases.append(c.case(Alert.ERROR_BUDGET_EXHAUSTED, series, "60m", exp if fires else []))
    cases.append(
        {
            "interval": "1m",
            "input_series": [http(job, "5xx", 0.05, 60), http(job, "2xx", 99.95, 60)],
            "promql_expr_test": [
                {
                    "expr": f'round(jm:slo_error_budget_remaining:ratio_rate{period}{{slo="availability"}}, 0.001)',
                    "eval_time": "60m",
                    "exp_samples": [
                        {
                            "labels": f'{{job="{job}", slo="availability"}}',
                            "value": 0.5,
                        }
                    ],
                },
                {
                    "expr": 'jm:slo_objective:ratio{slo="time_to_searchable"}',
                    "eval_time": "1m",
                    "exp_samples": [
                        {
                            "labels": 'jm:slo_objective:ratio{slo="time_to_searchable"}',
                            "value": c.config.slo.time_to_searchable.objective,
                        }
                    ],
                },
            ],
        }
    )
    return cases


def canary_cases(c: Cases) -> list[dict[str, Any]]:
    """Half of the canary's rounds not found fails it (under 90 %), every round succeeding does not; every
    round's memory found in (2.5 s, 5 s] gives a p99 of 4.975 s (over 2.5 s), in (50 ms, 100 ms] silence."""
    cj = {"job": c.config.canary.job, "instance": "canary:9465"}
    job, cases = cj["job"], []
    for failed, fires in ((30, True), (0, False)):
        series = [
            counter("jm_canary_rounds_total", {**cj, "result": "success"}, 60 - failed, 20),
            counter("jm_canary_rounds_total", {**cj, "result": "not_found"}, failed, 20),
        ]
        exp = [
            {
                "exp_labels": c.labels(Severity.WARNING, job=job),
                "exp_annotations": c.annotations(
                    Alert.CANARY_FAILING,
                    "Only 50% of the canary's rounds (add a memory, search until found by meaning, delete it) "
                    "succeeded over 5m (threshold 90%): clients see the same.",
                    "50%",
                ),
            }
        ]
        cases.append(c.case(Alert.CANARY_FAILING, series, "15m", exp if fires else []))
    from jean_memory.canary import SEARCHABLE_BUCKETS

    for bucket, fires in ((5.0, True), (0.1, False)):
        series = [
            counter(
                "jm_canary_time_to_searchable_seconds_bucket",
                {**cj, "le": le},
                60 if le == "+Inf" or float(le) >= bucket else 0,
                20,
            )
            for le in [repr(float(b)) for b in SEARCHABLE_BUCKETS] + ["+Inf"]
        ]
        exp = [
            {
                "exp_labels": c.labels(Severity.WARNING, job=job),
                "exp_annotations": c.annotations(
                    Alert.TIME_TO_SEARCHABLE_HIGH,
                    "The p99 from the canary sending an add to a search finding it by meaning is 4.975s over 5m "
                    "(threshold 1000 ms): embeddings are slow or queued.",
                    "4.975s",
                ),
            }
        ]
        cases.append(c.case(Alert.TIME_TO_SEARCHABLE_HIGH, series, "15m", exp if fires else []))
    return cases


def recall_cases(c: Cases, j: dict[str, str]) -> list[dict[str, Any]]:
    """The golden set's replay: half its expected memories missing for 150 minutes pages and tickets; 5 %
    missing for 5 hours is a ticket (over 1x the 2 % budget, under 3x); 1 % missing, and a service with
    no golden set (its counters flat at 0), stay silent."""
    job, objective = j["job"], c.config.slo.recall.objective

    def replay(hits_per_min: float, minutes: int, expected_per_min: float = 100) -> list[dict[str, str]]:
        return [
            counter("jm_golden_expected_total", j, expected_per_min, minutes),
            counter("jm_golden_hits_total", j, hits_per_min, minutes),
        ]

    def fired(value: str, *severities: Severity) -> list[dict[str, Any]]:
        out = []
        for severity in severities:
            page = severity is Severity.CRITICAL
            desc = (
                f"The share of the golden set's expected memories missing from their search's top results is "
                f"{value} over the long window, at least {'6' if page else '1'}x the rate that spends the "
                f"{objective:.1%} recall SLO's budget (multiwindow, multi-burn-rate). Searches answer, with the "
                "wrong memories."
            )
            summary = "Jean Memory is burning its recall error budget" + (" fast" if page else "")
            out.append(
                {
                    "exp_labels": c.labels(severity, job=job, slo="recall"),
                    "exp_annotations": {
                        **c.annotations(Alert.RECALL_BUDGET_BURN, desc, value),
                        "summary": summary + ": the golden set's memories are not found",
                    },
                }
            )
        return out

    alert = Alert.RECALL_BUDGET_BURN
    return [
        c.case(alert, replay(50, 150), "150m", fired("50%", Severity.CRITICAL, Severity.WARNING)),
        c.case(alert, replay(95, 300), "300m", fired("5%", Severity.WARNING)),
        c.case(alert, replay(99, 300), "300m", []),
        c.case(alert, replay(0, 300, expected_per_min=0), "300m", []),
    ]


def burn_cases(c: Cases) -> list[dict[str, Any]]:
    """Both severities of a burn alert share a name: a page-rate burn is also a ticket-rate burn."""
    job, cases = c.job, []
    lat = {
        "job": job,
        "http_request_method": "POST",
        "http_route": "/v1/search",
        "http_response_status_class": "2xx",
    }
    le = str(c.config.slo.latency.threshold_seconds)
    scenarios: list[tuple[Alert, list[dict[str, str]], str, str, tuple[Severity, ...]]] = [
        # 5 % of /v1 requests fail for 150 minutes: page and ticket.
        (
            Alert.AVAILABILITY_BUDGET_BURN,
            [http(job, "5xx", 5, 150), http(job, "2xx", 95, 150)],
            "150m",
            "5%",
            (Severity.CRITICAL, Severity.WARNING),
        ),
        # 0.4 % fail for 5 hours: over 3x the budget (ticket), under 6x (no page).
        (
            Alert.AVAILABILITY_BUDGET_BURN,
            [http(job, "5xx", 0.4, 300), http(job, "2xx", 99.6, 300)],
            "300m",
            "0.4%",
            (Severity.WARNING,),
        ),
        # 0.05 %: inside the budget.
        (
            Alert.AVAILABILITY_BUDGET_BURN,
            [http(job, "5xx", 0.05, 300), http(job, "2xx", 99.95, 300)],
            "300m",
            "",
            (),
        ),
        # Half of /v1 requests slower than the threshold: page and ticket; 0.5 % slow: inside the budget.
        (
            Alert.LATENCY_BUDGET_BURN,
            [counter(f"{HTTP}_bucket", {**lat, "le": le}, 50, 150), counter(f"{HTTP}_count", lat, 100, 150)],
            "150m",
            "50%",
            (Severity.CRITICAL, Severity.WARNING),
        ),
        (
            Alert.LATENCY_BUDGET_BURN,
            [counter(f"{HTTP}_bucket", {**lat, "le": le}, 99.5, 150), counter(f"{HTTP}_count", lat, 100, 150)],
            "150m",
            "",
            (),
        ),
    ]
    for alert, series, at, value, severities in scenarios:
        slo = "availability" if alert is Alert.AVAILABILITY_BUDGET_BURN else "latency"
        what = "5xx" if slo == "availability" else "slower than 25 ms"
        objective = getattr(c.config.slo, slo).objective
        expected = []
        for severity in severities:
            factor = "6" if severity is Severity.CRITICAL else "1"
            desc = (
                f"The share of /v1 requests {what} is {value} over the long window, at least {factor}x the rate "
                f"that spends the {objective:.1%} SLO's budget (multiwindow, multi-burn-rate)."
            )
            expected.append(
                {
                    "exp_labels": c.labels(severity, job=job, slo=slo),
                    "exp_annotations": c.burn_annotations(alert, slo, severity, desc, value),
                }
            )
        cases.append(c.case(alert, series, at, expected))
    return cases
