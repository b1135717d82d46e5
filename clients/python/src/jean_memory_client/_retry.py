"""When and how long to retry. The service answers overload (429, 503) with Retry-After and every
write the client sends is idempotent (adds carry client-chosen ids; updates, deletes and forgets
converge), so retrying is safe by default: the policy only bounds how long a caller waits."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

import tenacity
from tenacity import RetryCallState

from jean_memory_client._errors import APIError, TransportError


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How the client retries. `RetryPolicy(max_attempts=1)` turns retries off.

    - `max_attempts`: tries per call, the first included;
    - `max_elapsed_s`: no wait begins that would end past this, counted from the first failure;
    - `backoff_initial_s` / `backoff_max_s`: exponential backoff with jitter, where no Retry-After is given;
    - `retry_after_max_s`: the longest Retry-After honoured as it is (a longer one is cut to this);
    - `retry_statuses`: answers retried (429 and 503 carry Retry-After; 502 and 504 come from proxies);
    - `retry_transport`: retry when the connection fails or the answer is lost;
    - `on_retry`: called before each wait with the failure, the attempt that failed (1 for the first) and
      the seconds about to be waited: where a caller logs or counts retries.
    """

    max_attempts: int = 10
    max_elapsed_s: float = 60.0
    backoff_initial_s: float = 0.2
    backoff_max_s: float = 5.0
    retry_after_max_s: float = 60.0
    retry_statuses: frozenset[int] = frozenset({429, 502, 503, 504})
    retry_transport: bool = True
    on_retry: Callable[[BaseException, int, float], None] | None = None

    def should_retry(self, exc: BaseException) -> bool:
        if isinstance(exc, APIError):
            return exc.status_code in self.retry_statuses
        return self.retry_transport and isinstance(exc, TransportError)

    def wait_s(self, state: RetryCallState) -> float:
        """Retry-After when the service sent one (plus up to 10 % jitter, so refused clients do not come
        back in step), else exponential backoff with full jitter."""
        exc = state.outcome.exception() if state.outcome is not None else None
        after = getattr(exc, "retry_after", None)
        if after is not None:
            after = min(float(after), self.retry_after_max_s)
            return after + random.uniform(0, 0.1 * after)
        ceiling = min(self.backoff_max_s, self.backoff_initial_s * 2 ** (state.attempt_number - 1))
        return random.uniform(self.backoff_initial_s / 2, ceiling)

    def _report(self, state: RetryCallState) -> None:
        if self.on_retry is not None and state.outcome is not None and state.next_action is not None:
            exc = state.outcome.exception()
            if exc is not None:
                self.on_retry(exc, state.attempt_number, state.next_action.sleep)

    def _kwargs(self) -> dict[str, object]:
        return {
            "stop": tenacity.stop_after_attempt(self.max_attempts) | tenacity.stop_before_delay(self.max_elapsed_s),
            "wait": self.wait_s,
            "retry": tenacity.retry_if_exception(self.should_retry),
            "before_sleep": self._report,
            "reraise": True,
        }

    def retrying(self) -> tenacity.Retrying:
        """A fresh controller for one call (tenacity keeps per-call state on it)."""
        return tenacity.Retrying(**self._kwargs())  # type: ignore[arg-type]

    def async_retrying(self) -> tenacity.AsyncRetrying:
        return tenacity.AsyncRetrying(**self._kwargs())  # type: ignore[arg-type]
