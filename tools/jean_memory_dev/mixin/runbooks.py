"""On-call runbooks, one per alert, with their numbers taken from alerts/thresholds.yaml.

Each runbook answers, in order: what fired and why it matters, how to confirm and narrow it down
(dashboard and panel, PromQL, traces, logs), how to mitigate, and when to escalate.
"""

from __future__ import annotations

from typing import Any

from mixin import Mixin

DASH = {
    "overview": "Jean Memory / Overview",
    "stm": "Jean Memory / STM and caches",
    "shuttle": "Jean Memory / Shuttle and LTM",
    "slo": "Jean Memory / SLOs and error budget",
    "telemetry": "Jean Memory / Telemetry pipeline",
}

TRACES = (
    "Traces: on the latency panels, click an exemplar dot (Prometheus → Tempo link), or in Grafana Explore "
    '→ Tempo run `{{ resource.service.name = "{job}" && duration > {slow} }}`; the server span shows which '
    "child (`journal.commit`, `stm.promote`, `embedding.query`, `stm.search`) took the time."
)
LOGS = (
    "Logs: the service logs JSON lines to stderr (`make stack`: `.stack/logs/service.log`; compose: "
    '`docker compose logs service`). Slow operations log `"msg": "slow operation"` with `metric_type`, '
    "`duration_ms` and a `trace_id` to paste into Tempo."
)
ESCALATE = "Escalate to the Jean Memory owners (#jean-memory-oncall) if it is not mitigated within {minutes} minutes."


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:g} ms"


def runbooks(data: dict[str, Any]) -> dict[str, str]:
    m = Mixin(data, "production")
    job, th, t, r = m.job, m.th, m.t, m.rate
    s = f'job="{job}"'
    slo = data["slo"]
    traces = TRACES.format(job=job, slow=_ms(slo["latency"]["threshold_seconds"]).replace(" ", ""))
    info: dict[str, dict[str, Any]] = {
        "JeanMemoryDown": dict(
            meaning=f"No instance of job `{job}` has been scraped successfully (`up == 0`) or has sent metrics "
            f"for {m.w['absent']}.",
            impact="Agents cannot store or recall memories. Acknowledged writes are safe in the journal on disk.",
            diagnose=[
                f"Dashboard **{DASH['overview']}**: every panel goes blank at the same moment.",
                f"PromQL: `up{{{s}}}` (scrape path) and `jm_build_info{{{s}}}` (either path).",
                "`curl -s localhost:8766/healthz` and `/readyz` on the host; `make stack` → `scripts/stack status`.",
                "Process gone? Check the service log's last lines for a traceback, and the host for OOM kills "
                "(`dmesg | grep -i oom`).",
            ],
            mitigate=[
                "Restart the service (`scripts/stack up` natively, `docker compose up -d service`). Start-up "
                "replays the journal, so no acknowledged write is lost.",
                "If it crashes again at start, keep `data/journal.db` and `data/ltm.db` (copy them aside) and escalate.",
            ],
            minutes=15,
        ),
        "JeanMemoryHighLatency": dict(
            meaning=f"Average `/v1` response time over {r} is above {_ms(th['avg_response_seconds'])} "
            "(the product plan's high-latency threshold).",
            impact="Agents wait on every memory call; their own latency budgets are eaten.",
            diagnose=[
                f"Dashboard **{DASH['overview']}**, panels **Memory creation latency** and **Search latency**: "
                "which operation and which tier (`cache`, `stm`, `ltm`) moved.",
                f"PromQL: `sum by (http_route) (rate(http_server_request_duration_seconds_sum{{{s}}}[{r}])) / "
                f"sum by (http_route) (rate(http_server_request_duration_seconds_count{{{s}}}[{r}]))`.",
                f"CPU saturation: `rate(process_cpu_seconds_total{{{s}}}[{r}])` near the core count; the embedding "
                f"backlog `jm_embedding_backlog{{{s}}}`.",
                f"Dashboard **{DASH['stm']}**, panels **Event-loop lag** and **Garbage-collector pauses**: every "
                "request shares one event loop, so anything that blocks it slows them all. Lag up with flat traffic: "
                "something blocks the loop; restart one instance with `JM_SLOW_CALLBACK_MS=100` and its log names "
                "the callback. Generation-2 pauses up: the GC policy is off (`JM_GC_FREEZE_INTERVAL_S=0`) or the "
                "heap grows faster than it freezes.",
                traces,
            ],
            mitigate=[
                'Cold reads (`tier="ltm"`) dominating: the short-term tier is evicting; raise `JM_STM_BUDGET_BYTES` '
                "if RAM allows.",
                "Embedding backlog high: the model is the limit; shed load (admission control answers 429) or move "
                "to a faster embedding backend.",
                "A fault injection left on (drills): `curl -XDELETE localhost:8766/admin/faults` with the admin token.",
            ],
            minutes=30,
        ),
        "JeanMemoryCreationLatencyHigh": dict(
            meaning=f"p99 of memory creation (time to a durable acknowledgement) over {r} is above "
            f"{_ms(th['creation_p99_seconds'])}; the target is a {_ms(t['creation_avg_seconds'])} average.",
            impact="Agents wait longer for each stored memory; clients with short timeouts may retry.",
            diagnose=[
                f"Dashboard **{DASH['overview']}**, panel **Memory creation latency** (p50/p95/p99 against the "
                f"{_ms(t['creation_avg_seconds'])} target); click an exemplar for the slow request's trace.",
                f"PromQL: `jm:creation_latency:p99_{r}`, `histogram_quantile(0.99, sum by (le, mode) "
                f"(rate(jm_memory_creation_duration_seconds_bucket{{{s}}}[{r}])))` (single vs batch).",
                "The `journal.commit` span: a slow commit means a slow disk (check `iostat`) or "
                "`JM_JOURNAL_SYNC=full` on a disk with expensive fsync.",
                "CPU: is the event loop starved (`rate(process_cpu_seconds_total[1m])` near 1 per worker)?",
            ],
            mitigate=[
                "Disk: move `JM_DATA_DIR` to a faster volume; `JM_JOURNAL_SYNC=normal` if power-loss durability is "
                "not required.",
                'Large batches dominate the p99: that is expected for 1,000-item batches; compare `mode="single"`.',
            ],
            minutes=60,
        ),
        "JeanMemorySearchLatencyHigh": dict(
            meaning=f"p99 of search over all tiers over {r} is above {_ms(th['search_p99_seconds'])} "
            f"(hot-search target {_ms(t['hot_search_p99_seconds'])}).",
            impact="Agents recall memories slowly.",
            diagnose=[
                f"Dashboard **{DASH['overview']}**, panel **Search latency** by tier; **{DASH['stm']}**, panels "
                "**Embedding latency** and **Embedding backlog**.",
                f"PromQL: `histogram_quantile(0.99, sum by (le, tier) (rate(jm_search_duration_seconds_bucket{{{s}}}[{r}])))`.",
                'Cold searches (`tier="ltm"`) include promotion from the store; many of them mean evictions '
                f"(`rate(jm_stm_evictions_total{{{s}}}[{r}])`).",
                traces,
            ],
            mitigate=[
                "Raise the STM budget if evictions are frequent; warm users at start-up with `JM_STM_WARM_USERS`.",
                "If `embedding.query` is slow, the model is saturated by the add backlog: lower "
                "`JM_EMBED_MAX_BACKLOG` so adds are refused earlier.",
            ],
            minutes=60,
        ),
        "JeanMemoryLowCacheHitRate": dict(
            meaning=f"Fewer than {th['cache_hit_ratio_min']:.0%} of searches over {r} were answered without the "
            f"embedding model (L1 result cache or L2 query-embedding cache); the target is {t['cache_hit_ratio']:.0%}.",
            impact="Each miss costs a model call (~14 ms with MiniLM); search latency and CPU rise.",
            diagnose=[
                f"Dashboard **{DASH['stm']}**, panels **Cache hits and misses by level** and **Cache hit rate**.",
                f"PromQL: `sum by (level) (rate(jm_cache_hits_total{{{s}}}[{r}]))` and `jm_cache_misses_total`.",
                "A sudden drop to zero: caches disabled (`JM_RESULT_CACHE_SIZE=0`, `JM_EMBEDDING_CACHE_SIZE=0`, or "
                "the drill fault `cache_disabled`).",
                "A slow drift: the workload's queries stopped repeating (new clients, new query templates).",
            ],
            mitigate=[
                "Re-enable the caches or remove the drill fault.",
                "Raise `JM_EMBEDDING_CACHE_SIZE` if L2 misses on repeated queries (evictions in a too small LRU).",
            ],
            minutes=120,
        ),
        "JeanMemoryHighErrorRate": dict(
            meaning=f"More than {th['error_ratio_max']:.0%} of requests over {r} answered 5xx "
            f"(target under {t['error_ratio']:.1%}).",
            impact="Agents' memory calls fail; writes that got a 5xx were not acknowledged and must be retried.",
            diagnose=[
                f"Dashboard **{DASH['overview']}**, panel **Error rate**; **{DASH['slo']}** for the budget impact.",
                f"PromQL: `sum by (http_route) (rate(http_server_request_duration_seconds_count{{{s}, "
                f'http_response_status_class="5xx"}}[{r}]))` and `sum by (service, operation, error_type) '
                f"(rate(jm_errors_total{{{s}}}[{r}]))`.",
                "503s with `Retry-After` are admission control or the store being down: see "
                "JeanMemoryAdmissionRejecting and JeanMemoryLTMUnreachable.",
                'Traces: in Tempo, `{ status = error }`; logs: lines with `"level": "error"`.',
            ],
            mitigate=[
                "Store unreachable: fix the store; reads of resident users and all writes keep working.",
                "A drill fault left on: remove it (`DELETE /admin/faults`).",
                "A bad deploy: roll back.",
            ],
            minutes=15,
        ),
        "JeanMemoryShuttleBacklogGrowing": dict(
            meaning="Writes are journaled faster than the shuttle ships them to the long-term store, and more than "
            f"{th['shuttle_backlog_min']} are waiting.",
            impact="No data loss (the journal is durable), but the store of record lags; if it keeps growing, "
            "adds will be refused with 503 at `JM_JOURNAL_MAX_PENDING`.",
            diagnose=[
                f"Dashboard **{DASH['shuttle']}**, panels **Pending writes**, **Retries and failures**, "
                "**LTM write latency**.",
                f"PromQL: `deriv(jm_shuttle_pending{{{s}}}[{r}])`, `rate(jm_shuttle_retries_total{{{s}}}[{r}])`, "
                f"`histogram_quantile(0.99, rate(jm_ltm_write_duration_seconds_bucket{{{s}}}[{r}]))`.",
                "Traces: `shuttle.batch` spans and their `ltm.write` children show slow or failing store writes.",
            ],
            mitigate=[
                "Store slow: check the PostgreSQL server (locks, `pg_stat_activity`) or the remote service.",
                "Raise `JM_SHUTTLE_BATCH_SIZE` for more rows per write if each write is latency-bound.",
            ],
            minutes=60,
        ),
        "JeanMemoryShuttleStale": dict(
            meaning=f"The oldest write not yet in the long-term store is older than "
            f"{th['shuttle_oldest_pending_seconds']} s.",
            impact="The store of record misses recent memories; other instances reading it do not see them.",
            diagnose=[
                f"Dashboard **{DASH['shuttle']}**, panel **Oldest pending age**.",
                f"PromQL: `jm_shuttle_oldest_pending_age_seconds{{{s}}}`, `jm_ltm_up{{{s}}}`, "
                f"`increase(jm_shuttle_dead_letters_total{{{s}}}[1h])`.",
                "Writes held for their vector: with MiniLM saturated, rows wait up to `JM_SHUTTLE_EMBED_WAIT_S` "
                "before shipping without one; see `jm_embedding_backlog`.",
            ],
            mitigate=["Restore the store (see JeanMemoryLTMUnreachable); reduce the embedding backlog."],
            minutes=60,
        ),
        "JeanMemoryLTMUnreachable": dict(
            meaning="The last calls to the long-term store (SQLite file, PostgreSQL or the remote service) failed.",
            impact="Writes are still acknowledged (journal) and retried with backoff; reads of users that are not "
            "resident in the short-term tier fail with 503; /readyz reports not ready.",
            diagnose=[
                f"Dashboard **{DASH['shuttle']}**, panels **LTM up** and **Retries and failures**.",
                f"PromQL: `jm_ltm_up{{{s}}}`, `rate(jm_shuttle_failures_total{{{s}}}[{r}])`.",
                "Service log: `long-term store write failed (attempt N), retrying: ...` names the error.",
                "PostgreSQL: `pg_isready -h HOST -p PORT`; remote: `curl REMOTE/readyz`.",
            ],
            mitigate=[
                "Bring the store back; the shuttle resumes by itself and ships everything exactly once.",
                "Watch `jm_shuttle_pending` drain to 0 afterwards.",
            ],
            minutes=15,
        ),
        "JeanMemorySTMNearBudget": dict(
            meaning=f"The short-term tier uses more than {th['stm_budget_ratio']:.0%} of its "
            f"{t['stm_bytes'] // 2**20} MB budget.",
            impact="Cold users are evicted; their next read promotes them from the store (a cold, slower search).",
            diagnose=[
                f"Dashboard **{DASH['stm']}**, panels **STM bytes vs budget**, **Evictions**, **Promotions**.",
                f"PromQL: `jm:stm_budget:ratio`, `rate(jm_stm_evictions_total{{{s}}}[{r}])`, "
                f"`process_resident_memory_bytes{{{s}}}`.",
            ],
            mitigate=[
                "Raise `JM_STM_BUDGET_BYTES` if the host has RAM; switch large users to SQ8 (`JM_STM_INDEX=auto`, "
                "`JM_STM_LARGE_INDEX=sq8`): a quarter of the memory per vector.",
            ],
            minutes=240,
        ),
        "JeanMemoryAdmissionRejecting": dict(
            meaning=f"More than {th['admission_rejections_per_second']} request/s are refused with 429 (embedding "
            "backlog full) or 503 (concurrency limit, store backlog full).",
            impact="Clients must retry after `Retry-After`; sustained, it means the service is under-provisioned.",
            diagnose=[
                f"Dashboard **{DASH['overview']}**, panel **Throughput**; **{DASH['stm']}**, **Embedding backlog**.",
                f"PromQL: `sum by (operation, reason) (rate(jm_admission_rejected_total{{{s}}}[{r}]))`.",
                '`reason="jm_embedding_backlog"`: adds arrive faster than the model embeds; `concurrency`: too many '
                "requests in flight; `shuttle_backlog`: the store is not keeping up.",
            ],
            mitigate=[
                "Scale out (more instances over a shared PostgreSQL store), or a faster embedding backend.",
                "Check for a retry storm from one client (clients must honour Retry-After).",
            ],
            minutes=60,
        ),
        "JeanMemoryTelemetryPipelineBroken": dict(
            meaning="Telemetry is being lost: the service's OTLP exports fail or drop spans, or the collector "
            "refuses data or fails to send it on.",
            impact="Traces and (over OTLP) metrics go missing; dashboards and alerts may go blind. The service "
            "itself is unaffected: exports never block requests.",
            diagnose=[
                f"Dashboard **{DASH['telemetry']}**, every panel.",
                f'PromQL: `rate(jm_telemetry_exports_total{{{s}, result="failure"}}[{r}])`, '
                f"`rate(jm_telemetry_dropped_spans_total{{{s}}}[{r}])`, "
                f"`rate(otelcol_exporter_send_failed_spans_total[{r}])`, `rate(otelcol_receiver_refused_spans_total[{r}])`.",
                "Collector logs (`docker compose logs otel-collector`): memory_limiter refusing, exporter errors.",
            ],
            mitigate=[
                "Collector down: restart it. Refusing under memory pressure: raise its memory limit.",
                "Tempo or Prometheus down: the collector's exporter fails; restore the backend.",
            ],
            minutes=240,
        ),
        "JeanMemoryAvailabilityBudgetBurn": dict(
            meaning=f"The {slo['availability']['objective']:.1%} availability SLO's error budget (5xx share of "
            "/v1 requests) is burning fast enough, in a long and a short window at once, to run out early: "
            "14.4x over 1h and 5m, or 6x over 6h and 30m, pages; 3x over 1d and 2h, or 1x over 3d and 6h, "
            "files a ticket.",
            impact="At 14.4x the monthly budget is gone in about two days; at 1x it lasts exactly the month.",
            diagnose=[
                f"Dashboard **{DASH['slo']}**, panels **Burn rate** and **Error budget remaining**.",
                "PromQL: `jm:slo_availability_errors:ratio_rate1h`, `..._rate5m`, `..._rate6h`, `..._rate1d`.",
                "Then as for JeanMemoryHighErrorRate: which route and which error type.",
            ],
            mitigate=[
                "Fix the cause of the 5xx (see JeanMemoryHighErrorRate); freeze risky deploys while the budget is low."
            ],
            minutes=30,
        ),
        "JeanMemoryLatencyBudgetBurn": dict(
            meaning=f"The latency SLO ({slo['latency']['objective']:.0%} of /v1 requests faster than "
            f"{_ms(slo['latency']['threshold_seconds'])}) burns its budget fast, in a long and a short window at once.",
            impact="Agents see slow memory calls often enough to notice.",
            diagnose=[
                f"Dashboard **{DASH['slo']}**, panel **Latency SLO**; then **{DASH['overview']}** latency panels.",
                "PromQL: `jm:slo_latency_slow:ratio_rate1h` and `..._rate5m`.",
                traces,
            ],
            mitigate=["As for JeanMemoryHighLatency."],
            minutes=30,
        ),
        "Watchdog": dict(
            meaning="Always firing, on purpose: proof that Prometheus evaluates rules and Alertmanager delivers.",
            impact="None while it arrives. If the receiver stops getting it (every `repeat_interval`), alerting "
            "itself is broken and no other page will arrive either.",
            diagnose=[
                "Prometheus: `/alerts` shows Watchdog firing? Alertmanager: `amtool alert query alertname=Watchdog`.",
                "Receiver logs: the webhook receiver logs every notification.",
            ],
            mitigate=["Restore Prometheus → Alertmanager → receiver; check Alertmanager's `/api/v2/status`."],
            minutes=30,
        ),
    }
    out = {}
    rules = {a["alert"]: a for a in m.alert_rules()["groups"][0]["rules"]}
    for name, doc in info.items():
        rule = rules[name]
        sev = rule["labels"]["severity"]
        lines = [
            f"# {name}",
            "",
            f"Severity: **{sev}** (route: {rule['labels']['route']}) · for: {rule.get('for', '0s')} · "
            f"summary: *{rule['annotations']['summary']}*",
            "",
            "## Meaning",
            doc["meaning"],
            "",
            "## Impact",
            doc["impact"],
            "",
            "## Diagnose",
            *[f"{i}. {step}" for i, step in enumerate(doc["diagnose"], 1)],
            "",
            "## Mitigate",
            *[f"- {step}" for step in doc["mitigate"]],
            "",
            "## Escalate",
            ESCALATE.format(minutes=doc["minutes"]),
            "",
            "## Rule",
            "```promql",
            rule["expr"].strip(),
            "```",
            "",
        ]
        out[name] = "<!-- GENERATED by alerts/generate.py from alerts/runbooks.py and alerts/thresholds.yaml -->\n" + (
            "\n".join(lines)
        )
    return out
