"""What the client raises: one base class, one class per kind of refusal, each carrying the service's
own words (its error body names the field at fault) so a caller can act without parsing messages."""

from __future__ import annotations

import email.utils
import time
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass(frozen=True, slots=True)
class FieldError:
    """One entry of the service's error body: the field at fault (None: the request as a whole)."""

    field: str | None
    message: str


class JeanMemoryError(Exception):
    """Base of every error this client raises."""


class TransportError(JeanMemoryError):
    """The service could not be reached, or the connection failed before an answer arrived.

    `maybe_applied` is True when the request may have reached the service (a lost answer, not a refused
    connection): retrying is still safe, because every write the client sends is idempotent.
    """

    def __init__(self, message: str, *, maybe_applied: bool) -> None:
        super().__init__(message)
        self.maybe_applied = maybe_applied


class ExportInterrupted(JeanMemoryError):
    """An export stream broke after `delivered` memories; start the export again to have them all."""

    def __init__(self, message: str, *, delivered: int) -> None:
        super().__init__(message)
        self.delivered = delivered


class APIError(JeanMemoryError):
    """The service answered with an error status; `errors` lists every field it named."""

    def __init__(
        self, status_code: int, detail: str, errors: list[FieldError], retry_after: float | None = None
    ) -> None:
        super().__init__(f"{status_code}: {detail}")
        self.status_code = status_code
        self.detail = detail
        self.errors = errors
        self.retry_after = retry_after

    @property
    def field(self) -> str | None:
        """The first field the service named (`items[3].content`, `user_id`), or None."""
        return next((e.field for e in self.errors if e.field), None)


class BadRequest(APIError):
    """400: malformed JSON or a cut body."""


class AuthenticationError(APIError):
    """401: a missing or unknown API key."""


class NotFound(APIError):
    """404: the user has no memory with this id (or it expired)."""


class Conflict(APIError):
    """409: a client-chosen id is already used by a memory with other content."""


class PayloadTooLarge(APIError):
    """413: the body is past the service's limit (smaller batches will pass)."""


class ValidationError(APIError):
    """422: a field breaks the schema or a configured limit; `field` names it."""


class RateLimited(APIError):
    """429: the tenant is past its rate or share; retried after Retry-After by default."""


class ServerError(APIError):
    """5xx not listed below: a bug in the service (it logs it)."""


class ServiceUnavailable(ServerError):
    """503: overloaded, draining or a store unreachable; retried after Retry-After by default."""


class InsufficientStorage(ServerError):
    """507: the service's disk is full; writes are refused until space returns (not retried)."""


_BY_STATUS: dict[int, type[APIError]] = {
    400: BadRequest,
    401: AuthenticationError,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    422: ValidationError,
    429: RateLimited,
    503: ServiceUnavailable,
    507: InsufficientStorage,
}


def retry_after(value: str | None) -> float | None:
    """Retry-After in seconds: delta-seconds or an HTTP date (RFC 9110 §10.2.3); None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def error_from(response: httpx.Response) -> APIError:
    """The exception for an error answer. The service's body is `{"detail", "errors": [{"field",
    "message"}]}`; anything else (a proxy's page, the connection limit's plain text) is kept as text."""
    detail = response.reason_phrase or "error"
    errors: list[FieldError] = []
    try:
        body: Any = response.json()
    except ValueError:
        body = None
        text = response.text.strip()
        if text:
            detail = text[:500]
    if isinstance(body, dict):
        detail = str(body.get("detail", detail))
        for entry in body.get("errors") or ():
            if isinstance(entry, dict):
                errors.append(FieldError(entry.get("field"), str(entry.get("message", ""))))
    status = response.status_code
    cls = _BY_STATUS.get(status) or (ServerError if status >= 500 else APIError)
    return cls(status, detail, errors, retry_after(response.headers.get("retry-after")))
