"""Per-tenant fairness against a real service: one tenant's flood is refused at its own limits (429
naming `tenant`, with Retry-After), while another tenant's requests keep succeeding, at their latency.

The flood is `hey` (a separate process, as an attacker's client would be), at twenty times the tenant's
rate; the other tenant's latency is compared with itself in the same run, quiet and flooded phases taking
turns, so a noisy machine moves both alike."""

from __future__ import annotations

import statistics
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.conftest import StartService
from tests.helpers import metric

ACME, GLOBEX = "a" * 32, "g" * 32
KEYS = {"JM_API_KEYS": f"{ACME}:acme,{GLOBEX}:globex"}
ADMIN = "admin-token-for-the-fairness-test"
#: The other tenant's median latency under the flood stays within this factor of its quiet median.
FACTOR = 3.0


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def flood(url: str, seconds: float) -> subprocess.Popen[bytes]:
    """acme searching from 4 connections at 500 requests a second each: 20 times its rate limit."""
    body = '{"user_id": "u", "query": "flood"}'
    return subprocess.Popen(
        ["hey", "-z", f"{seconds}s", "-c", "4", "-q", "500", "-m", "POST", "-T", "application/json",
         "-H", f"Authorization: Bearer {ACME}", "-d", body, f"{url}/v1/search"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def paced(c: httpx.Client, seconds: float) -> list[float]:
    """globex searching one request at a time, 25 a second (within its limit): each latency in seconds."""
    latencies: list[float] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        started = time.perf_counter()
        r = c.post("/v1/search", json={"user_id": "u", "query": "the merger"}, headers=bearer(GLOBEX))
        latencies.append(time.perf_counter() - started)
        assert r.status_code == 200, f"globex was refused during acme's flood: {r.status_code} {r.text[:200]}"
        time.sleep(max(0.0, 0.04 - latencies[-1]))
    return latencies


def test_a_flooding_tenant_is_limited_and_the_others_keep_their_latency(start_service: StartService) -> None:
    svc = start_service({**KEYS, "JM_TENANT_RATE_LIMIT": "100/second"})
    quiet: list[float] = []
    flooded: list[float] = []
    with httpx.Client(base_url=svc.url, timeout=30) as c:
        items = [{"content": f"the merger with initech, note {i}"} for i in range(200)]
        for key in (ACME, GLOBEX):
            assert c.post("/v1/memories/batch", json={"user_id": "u", "items": items}, headers=bearer(key)).is_success
        paced(c, 1.0)  # warm: caches, connections
        for _ in range(3):
            quiet += paced(c, 1.5)
            hey = flood(svc.url, 2.5)
            try:
                time.sleep(0.5)  # the flood under way
                flooded += paced(c, 1.5)
            finally:
                hey.wait(timeout=30)
        r = c.post("/v1/search", json={"user_id": "u", "query": "q"}, headers=bearer(ACME))
        for _ in range(200):
            if r.status_code == 429:
                break
            r = c.post("/v1/search", json={"user_id": "u", "query": "q"}, headers=bearer(ACME))
    assert r.status_code == 429 and [e["field"] for e in r.json()["errors"]] == ["tenant"], r.text
    assert "rate limit (100 per 1 second)" in r.json()["detail"]
    assert int(r.headers["retry-after"]) >= 1
    refused = metric(svc.url, "jm_tenant_rejected_total", tenant="acme", limit="rate")
    admitted = metric(svc.url, "jm_tenant_admitted_total", tenant="acme")
    assert refused > admitted, f"the flood was not one: acme had {admitted} requests admitted, {refused} refused"
    assert metric(svc.url, "jm_tenant_rejected_total", tenant="globex") == 0
    assert metric(svc.url, "jm_admission_rejected_total") == 0
    quiet_median, flooded_median = statistics.median(quiet), statistics.median(flooded)
    assert flooded_median <= FACTOR * quiet_median, (
        f"globex's median went from {quiet_median * 1000:.2f} ms to {flooded_median * 1000:.2f} ms under acme's flood"
    )


#: Searches made slow, 8 read slots, no rate limit: the share alone is tested.
SHARE_ENV = {**KEYS, "JM_TENANT_RATE_LIMIT": "", "JM_MAX_INFLIGHT_READS": "8", "JM_FAULTS_ENABLED": "true",
             "JM_ADMIN_TOKEN": ADMIN}  # fmt: skip


def check_the_share(url: str) -> None:
    """Searches made slow (an injected second each): acme's 8 at once would take all 8 read slots and
    globex would get 503. With a share of one half, 4 of acme's are refused and globex's 4 all succeed."""
    spec = {"latency_ms": {"search": 1000}}
    assert httpx.put(f"{url}/admin/faults", json=spec, headers=bearer(ADMIN)).status_code == 200

    def search(key: str) -> httpx.Response:
        return httpx.post(f"{url}/v1/search", json={"user_id": "u", "query": "slow"}, headers=bearer(key), timeout=30)

    with ThreadPoolExecutor(12) as pool:
        acme = [pool.submit(search, ACME) for _ in range(8)]
        time.sleep(0.3)  # acme's requests hold their slots for a second
        held = metric(url, "jm_tenant_inflight", tenant="acme", operation="read")
        globex = [pool.submit(search, GLOBEX) for _ in range(4)]
        acme_codes = sorted(f.result().status_code for f in acme)
        globex_codes = [f.result().status_code for f in globex]
    assert held == 4, f"acme held {held} read slots, not its share"
    assert acme_codes == [200] * 4 + [429] * 4, acme_codes
    assert globex_codes == [200] * 4, globex_codes
    r = next(f.result() for f in acme if f.result().status_code == 429)
    assert [e["field"] for e in r.json()["errors"]] == ["tenant"], r.text
    assert "share of the slots" in r.json()["detail"] and int(r.headers["retry-after"]) >= 1
    assert metric(url, "jm_tenant_rejected_total", tenant="acme", limit="concurrency") == 4
    assert metric(url, "jm_tenant_rejected_total", tenant="globex") == 0
    assert metric(url, "jm_admission_rejected_total") == 0


def test_a_tenant_holds_at_most_its_share_of_the_slots(start_service: StartService) -> None:
    check_the_share(start_service(SHARE_ENV).url)


def test_the_tenant_label_is_bounded(start_service: StartService) -> None:
    """Past JM_TENANT_METRICS_MAX tenants (by name), the rest share the label `other`."""
    initech = "i" * 32
    keys = {"JM_API_KEYS": f"{ACME}:acme,{GLOBEX}:globex,{initech}:initech", "JM_TENANT_METRICS_MAX": "1"}
    svc = start_service(keys)
    for key in (ACME, GLOBEX, initech):
        r = httpx.get(f"{svc.url}/v1/memories", params={"user_id": "u"}, headers=bearer(key))
        assert r.status_code == 200, r.text
    assert metric(svc.url, "jm_tenant_admitted_total", tenant="acme", operation="read") == 1
    assert metric(svc.url, "jm_tenant_admitted_total", tenant="other", operation="read") == 2
    text = httpx.get(f"{svc.url}/metrics").text
    assert "globex" not in text and "initech" not in text
