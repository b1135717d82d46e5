"""Map every failure to a clear status and a message that names the field; never a bare 500."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from opentelemetry import trace
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute, Match, Mount

from jean_memory.api.cursor import CURSOR_PATTERN
from jean_memory.api.responses import FastJSONResponse
from jean_memory.api.schemas import UNICODE_ERROR, USER_ID_PATTERN
from jean_memory.errors import ServiceError
from jean_memory.telemetry.asgi import SPAN_KEY

log = logging.getLogger(__name__)
#: The request-error lines: one per refused (4xx, INFO) or failed (5xx, ERROR) request that an exception
#: handler answers, with bounded structured fields (the route's template, never the path a client chose).
requests_log = logging.getLogger("jean_memory.requests")


#: A pattern a field breaks, in words: a raw regex in a message helps nobody.
PATTERN_WORDS = {
    USER_ID_PATTERN: "must be printable text with at least one non-space character (no control characters)",
    CURSOR_PATTERN: "must be the next_cursor of a previous page, unchanged",
}
OTHER_PATTERN = "has a form this field does not accept"

#: A client's key quoted in a field name is cut here: an unknown 20,000-character key is named, not echoed.
FIELD_PART_CHARS = 64


def field_name(loc: tuple[Any, ...] | list[Any]) -> str:
    """('body', 'items', 3, 'content') -> 'items[3].content'. A part the client chose (an unknown key,
    a metadata key) is shortened and escaped, so the answer can always be written as JSON."""
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            text = _printable(str(part))
            out += f".{text}" if out else text
    return out or "body"


def _printable(part: str) -> str:
    if len(part) > FIELD_PART_CHARS:
        part = part[:FIELD_PART_CHARS] + "..."
    if part.isascii():
        return part
    return part.encode("utf-8", "backslashreplace").decode("utf-8")


def log_error(request: Request, status: int, error_type: str) -> None:
    """The request-error line: route template, method, status and error type as structured fields; never
    the message (it may quote a client's input), never a header."""
    route = getattr(request.scope.get("route"), "path", None)
    fields = {
        "http.route": route if isinstance(route, str) else "unmatched",
        "http.request.method": request.method if request.method in METHODS else "_OTHER",
        "http.response.status_code": status,
        "error.type": error_type,
    }
    if status >= 500:
        requests_log.error("request failed: %d %s", status, error_type, extra=fields)
    else:
        requests_log.info("request refused: %d %s", status, error_type, extra=fields)


def error_response(
    status: int, errors: list[tuple[str | None, str]], headers: dict[str, str] | None = None
) -> FastJSONResponse:
    detail = "; ".join(f"{f}: {m}" if f else m for f, m in errors)
    body = {"detail": detail, "errors": [{"field": f, "message": m} for f, m in errors]}
    return FastJSONResponse(body, status_code=status, headers=headers)


async def _validation(request: Request, exc: RequestValidationError) -> FastJSONResponse:
    errs = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errs):
        msg = next(e.get("msg", "") for e in errs if e.get("type") == "json_invalid")
        log_error(request, 400, "malformed_json")
        return error_response(400, [("body", f"malformed JSON ({msg})")])
    log_error(request, 422, "validation")
    return error_response(422, describe_validation(errs))


def describe_validation(errs: Iterable[Any]) -> list[tuple[str | None, str]]:
    """pydantic's errors as (field, message) pairs in the service's words; the MCP tools use them too."""
    out: list[tuple[str | None, str]] = []
    for e in errs:
        msg = str(e.get("msg", "invalid")).removeprefix("Value error, ")
        if e.get("type") == "missing":
            msg = "is required"
        elif e.get("type") == "extra_forbidden":
            msg = "is not a known field"
        elif e.get("type") == "string_pattern_mismatch":
            msg = PATTERN_WORDS.get(str(e.get("ctx", {}).get("pattern", "")), OTHER_PATTERN)
        elif e.get("type") == UNICODE_ERROR and msg.startswith("Input should be"):  # pydantic-core's own wording
            msg = "must be valid Unicode: no lone surrogates"
        elif e.get("type") in ("dict_type", "model_type", "model_attributes_type"):
            msg = "must be a JSON object"
            if len(e.get("loc", ())) <= 1:
                msg += " (send Content-Type: application/json)"
        out.append((field_name(e.get("loc", ())), msg))
    return out


async def _service_error(request: Request, exc: ServiceError) -> FastJSONResponse:
    retry_after = getattr(exc, "retry_after_s", None)
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
    if exc.status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    message = exc.message.removeprefix(f"{exc.field}: ") if exc.field else exc.message
    log_error(request, exc.status, exc.code)
    return error_response(exc.status, [(exc.field, message)], headers or None)


#: The methods an `Allow` header may name (RFC 9110's, less the ones no route here serves).
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


async def method_not_allowed() -> None:
    """The endpoint of routes that exist only to answer 405 (`/memories/batch` with GET would otherwise be
    taken for a memory id, a 422); `allowed_methods` does not count them."""
    raise HTTPException(405, "Method Not Allowed")


def _flat(routes: Iterable[BaseRoute]) -> Iterator[BaseRoute]:
    """Every route, with FastAPI's included routers (resolved lazily, so not in `app.routes`) opened."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from _flat(inner.routes)
        else:
            yield route


def allowed_methods(request: Request) -> str:
    """The methods this path serves: for each, the route the router would pick (the first full match),
    unless that route only answers 405. Starlette's own header names only the first route's."""
    routes = list(_flat(request.app.router.routes))
    allowed = []
    for method in METHODS:
        # from the application's root: inside a mount (the docs' assets) the request's own root is the mount's
        scope = {**request.scope, "method": method, "root_path": request.scope.get("app_root_path", "")}
        for route in routes:
            if route.matches(scope)[0] is Match.FULL:
                if isinstance(route, Mount):  # matches every method: the static assets serve GET and HEAD
                    if method in ("GET", "HEAD"):
                        allowed.append(method)
                elif getattr(route, "endpoint", None) is not method_not_allowed:
                    allowed.append(method)
                break
    return ", ".join(allowed)


async def _http_error(request: Request, exc: HTTPException) -> FastJSONResponse:
    """The framework's own refusals, naming what was wrong: the method (405, with `Allow`) or the URL (404)."""
    headers = dict(exc.headers or {})
    field: str | None = None
    message = str(exc.detail)
    if exc.status_code == 405:
        headers["Allow"] = allowed = allowed_methods(request)
        field, message = "method", f"{request.method} is not served at this path (allowed: {allowed or 'none'})"
    elif exc.status_code == 404 and message == "Not Found":
        field, message = "url", "no route serves this path"
    log_error(request, exc.status_code, f"http_{exc.status_code}")
    return error_response(exc.status_code, [(field, message)], headers)


async def _unexpected(request: Request, exc: Exception) -> FastJSONResponse:
    """Runs outside the telemetry middleware (Starlette's ServerErrorMiddleware): its lines are logged under
    the request's span, kept in the scope, so they carry the request's trace id."""
    span = request.scope.get(SPAN_KEY) or trace.INVALID_SPAN
    with trace.use_span(span, end_on_exit=False):
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        log_error(request, 500, type(exc).__name__)
    return error_response(500, [(None, "internal error; it has been logged")])


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation)  # type: ignore[arg-type]
    app.add_exception_handler(ServiceError, _service_error)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected)
