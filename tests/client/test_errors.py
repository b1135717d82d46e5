"""Retry-After as RFC 9110 allows it (seconds or an HTTP date); pure functions, no service needed."""

from __future__ import annotations

import email.utils
import time

import pytest

from jean_memory_client._errors import retry_after


def test_retry_after_reads_seconds_and_dates() -> None:
    assert retry_after("3") == 3.0
    assert retry_after(" 0 ") == 0.0
    later = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert retry_after(later) == pytest.approx(30, abs=2)
    assert retry_after(email.utils.formatdate(time.time() - 30, usegmt=True)) == 0.0  # past: now
    assert retry_after(None) is None and retry_after("") is None and retry_after("soon") is None
