"""Domain errors. The API layer maps each to one HTTP status; nothing else maps to a 500."""

from __future__ import annotations


class ServiceError(Exception):
    """Base of every error the service raises on purpose."""

    status = 500
    code = "internal"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class Invalid(ServiceError):
    """A request field breaks a configured limit (size, count)."""

    status = 422
    code = "invalid"


class Unauthorised(ServiceError):
    """The request lacks the credentials its route needs (answered with a Bearer challenge)."""

    status = 401
    code = "unauthorised"


class NotFound(ServiceError):
    """The memory does not exist for this user."""

    status = 404
    code = "not_found"


class Conflict(ServiceError):
    """The id is already used by a different memory."""

    status = 409
    code = "conflict"


class Overloaded(ServiceError):
    """A bounded queue or concurrency limit is full; the client should retry after a while."""

    status = 503
    code = "overloaded"

    def __init__(self, message: str, *, retry_after_s: int, status: int = 503) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
        self.status = status
        self.code = "rate_limited" if status == 429 else "overloaded"


class Unavailable(ServiceError):
    """A dependency the request needs (the long-term store) is not reachable now."""

    status = 503
    code = "unavailable"

    def __init__(self, message: str, *, retry_after_s: int = 5) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class InsufficientStorage(ServiceError):
    """The disk under the journal is full: writes are refused (nothing stored) until space returns."""

    status = 507
    code = "insufficient_storage"

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class LtmError(Exception):
    """A long-term store call failed; `retryable` says whether the same call may succeed later."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable
