"""Every error the API returns is ``{"error": {"code", "message"[, "field"]}}``.

Domain exceptions (:class:`core.errors.RenderbotError`) are mapped once, by their
``http_status`` and ``code``; request validation, unknown routes and methods use the same
shape; anything else is a 500 with a correlation id in the message and the traceback in
the log only.
"""

from __future__ import annotations

import logging
import uuid

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.errors import InvalidInput, InvalidSettings, RenderbotError
from core.storage.base import StorageError

log = logging.getLogger("renderbot.api")

HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    410: "gone",
    413: "payload_too_large",
    415: "unsupported_media_type",
    416: "range_not_satisfiable",
    422: "invalid_request",
    429: "rate_limited",
    503: "unavailable",
}


class Unauthorized(RenderbotError):
    code = "unauthorized"
    http_status = 401


class RateLimited(RenderbotError):
    code = "rate_limited"
    http_status = 429

    def __init__(self, retry_after: float, limit: int) -> None:
        super().__init__(f"too many renders created by this account (limit {limit} per minute)")
        self.retry_after = max(1, int(retry_after + 0.999))


class LinkRefused(RenderbotError):
    """A download or media link that is forged (403) or past its expiry (410)."""

    def __init__(self, expired: bool) -> None:
        super().__init__("this link has expired" if expired else "this link is not valid")
        self.code = "link_expired" if expired else "invalid_link"
        self.http_status = 410 if expired else 403


def error_body(code: str, message: str, field: str | None = None) -> dict:
    detail = {"code": code, "message": message}
    if field is not None:
        detail["field"] = field
    return {"error": detail}


def error_response(status: int, code: str, message: str, field: str | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(code, message, field), status_code=status, headers=headers)


def domain_error(request: Request, exc: RenderbotError) -> JSONResponse:
    field = getattr(exc, "field", None)
    message = str(exc)
    if isinstance(exc, InvalidSettings):
        # Core names the setting; the API caller sent it inside "settings".
        field = f"settings.{exc.field}"
        message = f"settings.{message}"
    elif isinstance(exc, InvalidInput) and exc.field == "idempotency_key":
        field = "Idempotency-Key"
    headers = None
    if isinstance(exc, Unauthorized):
        headers = {"WWW-Authenticate": 'Bearer realm="renderbot"'}
    elif isinstance(exc, RateLimited):
        headers = {"Retry-After": str(exc.retry_after)}
    return error_response(exc.http_status, exc.code, message, field, headers)


def _location(loc: tuple) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        source, parts = parts[0], parts[1:]
        if not parts:
            return source
    return ".".join(parts)


def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
    field = _location(tuple(first.get("loc", ())))
    message = f"{field}: {first.get('msg', 'invalid')}" if field else str(first.get("msg"))
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    return error_response(422, "invalid_request", message, field or None)


def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    if exc.status_code == 400:
        # FastAPI's only 400: a body it cannot parse (not JSON, not UTF-8). Our contract
        # calls every invalid body 422.
        return error_response(422, "invalid_request", "body: is not valid JSON", "body")
    code = HTTP_CODES.get(exc.status_code, "error")
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    return error_response(exc.status_code, code, message, headers=getattr(exc, "headers", None))


def _transient(exc: Exception) -> bool:
    """Connection trouble or a busy database, as opposed to a bug."""
    if isinstance(exc, PoolTimeout | InterfaceError | ConnectionError | TimeoutError):
        return True
    if isinstance(exc, OperationalError):
        text = str(exc).lower()
        return exc.connection_invalidated or any(
            word in text for word in ("locked", "connect", "timeout", "timed out", "closed")
        )
    return False


def database_error(request: Request, exc: Exception) -> JSONResponse:
    if not _transient(exc):
        return internal_error(exc)
    correlation = uuid.uuid4().hex[:12]
    log.error("database unavailable (correlation id %s): %s", correlation,
              str(exc).splitlines()[0][:300], extra={"correlation_id": correlation})
    return error_response(
        503, "unavailable",
        f"the service is temporarily unavailable; try again (correlation id {correlation})",
        headers={"Retry-After": "5"},
    )


def storage_error(request: Request, exc: Exception) -> JSONResponse:
    """File storage failed outside a render (a download link, ...): the caller hears that
    the storage did not serve the file; bucket, key and host go to the log only."""
    correlation = uuid.uuid4().hex[:12]
    log.error("storage error (correlation id %s): %s", correlation, str(exc)[:300],
              extra={"correlation_id": correlation})
    return error_response(
        503, "storage_unavailable",
        f"the file storage could not serve this file; try again later "
        f"(correlation id {correlation})",
        headers={"Retry-After": "30"},
    )


def internal_error(exc: BaseException) -> JSONResponse:
    correlation = uuid.uuid4().hex[:12]
    log.error("internal error (correlation id %s)", correlation, exc_info=exc,
              extra={"correlation_id": correlation})
    return error_response(
        500, "internal_error", f"internal error (correlation id {correlation})"
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(RenderbotError, domain_error)
    app.add_exception_handler(StorageError, storage_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    for exc_type in (OperationalError, InterfaceError, PoolTimeout, ConnectionError):
        app.add_exception_handler(exc_type, database_error)
