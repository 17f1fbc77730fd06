"""Structured logs for every process (`renderbot serve`, `api`, `worker`, ...).

Every record gets the request id of the HTTP request it belongs to (a context variable set
by the API's middleware) and, when the code logging it passes ``extra={"job_id": ...,
"account_id": ...}`` (the pipeline, the callbacks and the API do for every line about a
job), those ids. ``text`` puts them at the end of the line as ``key=value``; ``json``
writes one JSON object per line (``RENDERBOT_API__LOG_FORMAT=json``, for every process).
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import threading
from datetime import UTC, datetime

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
CONTEXT_FIELDS = ("request_id", "job_id", "account_id", "event_id", "correlation_id")


# Credentials that third-party libraries log inside URLs: discord.py's webhook adapter logs
# each webhook URL at DEBUG, and an interaction's webhook URL carries its token; Slack's
# response URLs are credentials too. Every line (its exception text included) is cleaned.
_URL_SECRETS = (
    (re.compile(r"(/webhooks/\d+/)[^/?#\s'\"]+"), r"\1[token]"),
    (re.compile(r"(hooks\.slack\.com/)[^\s'\"]+"), r"\1[redacted]"),
)


def redact(text: str) -> str:
    """``text`` with the URL-borne credentials above replaced."""
    for pattern, replacement in _URL_SECRETS:
        text = pattern.sub(replacement, text)
    return text


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = request_id.get()
        return True


def _context(record: logging.LogRecord) -> dict[str, str]:
    return {
        name: str(value)
        for name in CONTEXT_FIELDS
        if (value := getattr(record, name, None)) is not None
    }


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        context = _context(record)
        if context:
            extra = " ".join(f"{k}={v}" for k, v in context.items())
            first, sep, rest = line.partition("\n")
            line = f"{first} [{extra}]{sep}{rest}"
        return redact(line)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage()),
            **_context(record),
        }
        if record.exc_info:
            data["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(data, default=str)


def configure(fmt: str = "text", level: int = logging.INFO, *, uncaught: bool = False) -> None:
    """Route every logger (ours, uvicorn's, dramatiq's) and Python's warnings through one
    handler; with ``uncaught`` (a process's entry point) also what Python would print to
    stderr by itself: uncaught exceptions of the main and other threads and "exception
    ignored" reports, so that every line of a JSON log stays one JSON object."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.captureWarnings(True)
    logging.getLogger("renderbot").setLevel(level)
    logging.getLogger("uvicorn").setLevel(logging.INFO)
    logging.getLogger("uvicorn.error").setLevel(logging.INFO)
    if uncaught:
        sys.excepthook = _log_uncaught
        threading.excepthook = _log_uncaught_in_thread
        sys.unraisablehook = _log_unraisable


_uncaught_log = logging.getLogger("renderbot.uncaught")


def _log_uncaught(exc_type, exc, tb) -> None:
    if issubclass(exc_type, KeyboardInterrupt):
        sys.__excepthook__(exc_type, exc, tb)
        return
    _uncaught_log.critical("uncaught exception", exc_info=(exc_type, exc, tb))


def _log_uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    if issubclass(args.exc_type, SystemExit):
        return  # as Python's own hook: a thread that exits is not an error
    name = args.thread.name if args.thread is not None else "unknown"
    _uncaught_log.critical("uncaught exception in thread %s", name,
                           exc_info=(args.exc_type, args.exc_value, args.exc_traceback))


def _log_unraisable(unraisable) -> None:
    _uncaught_log.warning("%s: %r", unraisable.err_msg or "Exception ignored in",
                          unraisable.object,
                          exc_info=(unraisable.exc_type, unraisable.exc_value,
                                    unraisable.exc_traceback))
