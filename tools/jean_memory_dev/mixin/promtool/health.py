"""promtool cases of the data's health: the data folder's disk, retrieval quality, the product plan's targets."""

from __future__ import annotations

from typing import Any

from jean_memory_dev.mixin.catalogue import Alert
from jean_memory_dev.mixin.config import Severity
from jean_memory_dev.mixin.promtool.cases import Cases
from jean_memory_dev.mixin.promtool.series import counter, gauge, histogram, score_series


def disk_cases(c: Cases, j: dict[str, str]) -> list[dict[str, Any]]:
    """The data folder's disk: 3 % free pages, half free stays silent; 30 GiB of 100 free and falling
    100 MB a minute (full in about 5 hours) files a ticket, the same disk holding steady stays silent."""
    job, total, inst = j["job"], 100 * 2**30, {**j, "instance": "a:8766"}
    cases = []
    for free, fires in ((0.03, True), (0.5, False)):
        series = [
            gauge("jm_disk_free_bytes", inst, total * free, 20),
            gauge("jm_disk_total_bytes", inst, total, 20),
        ]
        exp = [
            {
                "exp_labels": c.labels(Severity.CRITICAL, job=job, instance="a:8766"),
                "exp_annotations": c.annotations(
                    Alert.DISK_ALMOST_FULL,
                    "a:8766: the filesystem of JM_DATA_DIR has 3% free (threshold 5%); when it is full adds "
                    "get 507 until space returns.",
                    "3%",
                    instance="a:8766",
                ),
            }
        ]
        cases.append(c.case(Alert.DISK_ALMOST_FULL, series, "15m", exp if fires else []))
    start = 30 * 2**30
    for per_min, fires in ((100_000_000, True), (0, False)):
        series = [
            {"series": f'jm_disk_free_bytes{{job="{job}", instance="a:8766"}}', "values": f"{start}-{per_min}x40"},
            gauge("jm_disk_total_bytes", inst, total, 40),
        ]
        exp = [
            {
                "exp_labels": c.labels(Severity.WARNING, job=job, instance="a:8766"),
                "exp_annotations": c.annotations(
                    Alert.DISK_FILLING_UP,
                    "a:8766: 27.21% free on the filesystem of JM_DATA_DIR (under 40%) and, at the pace of the "
                    "last 6h, it is full within 24h.",
                    "27.21% free",
                    instance="a:8766",
                ),
            }
        ]
        cases.append(c.case(Alert.DISK_FILLING_UP, series, "30m", exp if fires else []))
    for damaged, fires in ((1, True), (0, False)):
        series = [gauge("jm_data_file_damaged", {**inst, "file": "store"}, damaged, 5)]
        exp = [
            {
                "exp_labels": {**c.labels(Severity.CRITICAL, job=job, instance="a:8766"), "file": "store"},
                "exp_annotations": c.annotations(
                    Alert.DATA_FILE_DAMAGED,
                    "a:8766: the background integrity check found the store damaged; the replica is out of "
                    "readiness and reads of the damaged pages fail.",
                    "store",
                    instance="a:8766",
                ),
            }
        ]
        cases.append(c.case(Alert.DATA_FILE_DAMAGED, series, "2m", exp if fires else []))
    return cases


def retrieval_cases(c: Cases, j: dict[str, str]) -> list[dict[str, Any]]:
    """Six hours of best matches in (0.75, 0.8], then a quarter of an hour in (0.1, 0.15]: the median
    (12.5 %) is under half the baseline's; six hours and a quarter at the same level stay silent."""
    job = j["job"]
    exp = [
        {
            "exp_labels": c.labels(Severity.WARNING, job=job),
            "exp_annotations": c.annotations(
                Alert.RETRIEVAL_QUALITY_DROPPED,
                "The median similarity of each search's best result over 5m is 12.5%, under 50% of its median "
                "over 6h: the model and the stored vectors no longer agree (a broken or swapped model, noise "
                "vectors). Searches still answer, with the wrong memories.",
                "12.5%",
            ),
        }
    ]
    return [
        c.case(Alert.RETRIEVAL_QUALITY_DROPPED, score_series(j, [("0.8", 360), ("0.15", 15)]), "375m", exp),
        c.case(Alert.RETRIEVAL_QUALITY_DROPPED, score_series(j, [("0.8", 360), ("0.8", 15)]), "375m", []),
    ]


def target_cases(c: Cases, j: dict[str, str]) -> list[dict[str, Any]]:
    """The plan's targets: hot searches all in (25 ms, 50 ms] give a p99 of 49.75 ms (over 25 ms), in
    (5 ms, 10 ms] silence; creation taking 10 ms on average (0.6 s per 60 adds a minute) is over 5 ms,
    2 ms is not."""
    job, cases = j["job"], []
    for bucket, fires in (("0.05", True), ("0.01", False)):
        series = histogram("jm_search_duration_seconds", {**j, "tier": "cache"}, 60, bucket, 30)
        exp = [
            {
                "exp_labels": c.labels(Severity.WARNING, job=job),
                "exp_annotations": c.annotations(
                    Alert.HOT_SEARCH_LATENCY_HIGH,
                    "The p99 of searches answered from the cache or the short-term tier over 5m is 49.75ms: "
                    "the product plan's target is 25 ms.",
                    "49.75ms",
                ),
            }
        ]
        cases.append(c.case(Alert.HOT_SEARCH_LATENCY_HIGH, series, "20m", exp if fires else []))
    labels = {**j, "mode": "single"}
    for seconds_per_min, fires in ((0.6, True), (0.12, False)):
        series = [
            counter("jm_memory_creation_duration_seconds_sum", labels, seconds_per_min, 30),
            counter("jm_memory_creation_duration_seconds_count", labels, 60, 30),
        ]
        exp = [
            {
                "exp_labels": c.labels(Severity.WARNING, job=job),
                "exp_annotations": c.annotations(
                    Alert.CREATION_AVERAGE_HIGH,
                    "Memory creation took 10ms on average over 5m: the product plan's target is a 5 ms average.",
                    "10ms",
                ),
            }
        ]
        cases.append(c.case(Alert.CREATION_AVERAGE_HIGH, series, "20m", exp if fires else []))
    return cases
