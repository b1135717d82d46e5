"""The SLOs by name and the series every SLO is recorded under: what the rules record, the catalogue's
alerts read and the SLO dashboard draws, named once.

Besides the service-wide SLOs (availability and latency over every `/v1` request, the golden set's recall:
their own recordings and burn alerts), every SLO's bad share is also recorded under one generic name with
an `slo` label, with metadata series per SLO, in the shape Sloth and Pyrra give them, so that burn rates,
the period's bad share and the budget left are one expression for all of them:

    jm:slo_errors:ratio_rate5m{job, slo}                  bad share over each burn window (Sloth's slo:sli_error)
    jm:slo_errors:ratio_rate30d{job, slo}                 over the period: the mean of the rate window's share
    jm:slo_error_budget_remaining:ratio_rate30d{job, slo} 1 - period share / budget (1 full, <= 0 spent)
    jm:slo_objective:ratio{slo}, jm:slo_error_budget:ratio{slo}, jm:slo_period:seconds{slo}   metadata
"""

from __future__ import annotations

#: The SLOs per operation (keys of `slo` in the thresholds file): JeanMemoryOperationBudgetBurn watches them,
#: each under its own `slo` label.
OPERATION_SLOS: tuple[str, ...] = ("add_latency", "search_latency", "canary_success", "time_to_searchable")
#: Every SLO under its `slo` label: the service-wide ones (over all /v1 requests, and the golden set's recall),
#: then those per operation.
SLOS: tuple[str, ...] = ("availability", "latency", "recall", *OPERATION_SLOS)
#: The route each per-operation latency SLO measures (POST).
ROUTES = {"add_latency": "/v1/memories", "search_latency": "/v1/search"}

SLI_ERRORS = "jm:slo_errors:ratio_rate"
SLO_OBJECTIVE = "jm:slo_objective:ratio"
SLO_BUDGET = "jm:slo_error_budget:ratio"
SLO_PERIOD = "jm:slo_period:seconds"
BUDGET_REMAINING = "jm:slo_error_budget_remaining:ratio_rate"
#: Recordings that are the job's by design (the SLOs' generic series, period, budget and metadata): a panel
#: draws them as they are, since no replica filter can narrow them.
JOB_LEVEL_RECORDS = (SLI_ERRORS, SLO_OBJECTIVE, SLO_BUDGET, SLO_PERIOD, BUDGET_REMAINING)

#: The synthetic user's series (service/jean_memory/canary.py).
CANARY_ROUNDS = "jm_canary_rounds_total"
CANARY_SEARCHABLE = "jm_canary_time_to_searchable_seconds"


def operation_selector() -> str:
    """`slo=~"add_latency|..."`: the generic series of the per-operation SLOs."""
    return f'slo=~"{"|".join(OPERATION_SLOS)}"'
