"""How Remotion Lambda's failures read: which are worth another try, and what the
admins' detail and the creator's kind (``core.job_errors``) of each one are.

Used by the lambda backend (progress errors) and its completion webhook
(``core/lambda_webhook.py``), so both say the same words. The retry rules are in the
backend's docstring (``core/backends/lambda_.py``).
"""

from __future__ import annotations

import re
from typing import Any

from core import job_errors

# Remotion's isFlakyError (@remotion/lambda-client 4.0.527): errors worth another try.
FLAKY_PATTERNS = (
    "FATAL:zygote_communication_linux.cc",
    "error while loading shared libraries: libnss3.so",
    "but the server sent no data",
    "Compositor panicked",
    "We encountered an internal error.",
    "while trying to connect to the browser",
    "RequestTimeout: Your socket connection to the server",
    "waiting for the page to render the React component",
    "Timed out evaluating page function",
    "Timeout exceeded rendering the component",
    "Loading root component",
    "getaddrinfo",
    "ECONNRESET",
    "ERR_CONNECTION_TIMED_OUT",
    "ERR_NETWORK_CHANGED",
    "A network error occurred",
    "socket hang up",
    "Target closed",
    "Session closed",
    "SIGKILL",
    "ServiceException: We currently do not have sufficient capacity",
    "Page crashed!",
)
THROTTLE_MARKERS = ("TooManyRequestsException", "ConcurrentInvocationLimitExceeded", "Rate Exceeded",
                    "AWS Concurrency limit reached")
# Permanent failures of the platform rather than of the composition (same wording for the
# poll, which knows the error's ``type``, and the webhook, which does not).
INFRASTRUCTURE_MARKERS = (
    "AccessDenied", "NoSuchBucket", "NotImplemented", "InvalidAccessKeyId",
    "SignatureDoesNotMatch", "ENOSPC", "no space left on device", "ERR_INSUFFICIENT_RESOURCES",
    "Runtime exited", "out of memory",
)
MAX_MESSAGE = job_errors.MAX_TEXT  # one line, at most this long
_BUCKET = re.compile(r"\bremotionlambda-[a-z0-9-]+")


def is_flaky(text: str) -> bool:
    if "Compositor exited" in text and "SIGSEGV" not in text:
        return True
    if "Timed out" in text and "while setting up the headless browser" in text:
        return True
    return any(p in text for p in FLAKY_PATTERNS)


def first_line(text: str | None, limit: int = MAX_MESSAGE) -> str:
    """``core.job_errors.one_line`` (no URL, path, host or stack frame; at most ``limit``
    characters) without Remotion's bucket name either; "" for no text."""
    if not (text or "").strip():
        return ""
    return job_errors.one_line(_BUCKET.sub("(a bucket)", text or ""), limit=limit)


def one_line(message: str) -> str:
    """A whole user-facing error (prefix included) capped at MAX_MESSAGE."""
    return message if len(message) <= MAX_MESSAGE else message[: MAX_MESSAGE - 1] + "…"


def classify_errors(errors: list[dict[str, Any]]) -> tuple[str, str, bool, str]:
    """(state, message, retryable, kind) for a render whose errors include a fatal one.
    The state is always ``failed``: see the cancellation note in :func:`_classify`. The
    message is the admins' detail; ``kind`` (``core.job_errors``) what the creator reads."""
    state, message, retryable = _classify(errors)
    return state, one_line(message), retryable, _kind(message, retryable)


def _kind(message: str, retryable: bool) -> str:
    if message.startswith("the render timed out"):
        return "timeout"
    if message.startswith(("AWS Lambda throttled", "the render failed on Remotion Lambda")):
        return "lambda"
    if message.startswith("a chunk kept failing"):
        return "browser"
    return job_errors.kind_of_render_error(message.removeprefix("the composition failed: "),
                                           retryable)


def _classify(errors: list[dict[str, Any]]) -> tuple[str, str, bool]:
    """(state, readable message, retryable) for a render whose errors include a fatal one.

    Rules in the module docstring: a flaky chunk (``type == "renderer"``) has had
    Remotion's retries already, so it is permanent; a flaky error elsewhere is ours to
    retry; everything else is permanent."""
    fatal = [e for e in errors if e.get("isFatal") and not e.get("willRetry")] or errors
    timeout = next((e for e in fatal if e.get("name") == "TimeoutError"), None)
    error = timeout or fatal[0]
    name = str(error.get("name") or "Error")
    message = first_line(error.get("message")) or name
    text = f"{error.get('message') or ''}\n{error.get('stack') or ''}"
    if timeout is not None:
        return "failed", one_line(f"the render timed out on Remotion Lambda: {message}"), False
    if name == "CancelledError" or "cancelled" in message.lower() or "canceled" in message.lower():
        # With enableCancellation, Remotion's launch writes cancel.json itself one second
        # before its timeout, so a "cancelled" render is a timeout unless the user asked —
        # and a user's cancel never gets here: the pipeline ends those jobs `cancelled`
        # itself (cancel_requested). A job the user did not cancel never ends `cancelled`.
        return ("failed", one_line("the render timed out on Remotion Lambda (it was stopped "
                                   f"before its function's timeout): {message}"), False)
    if any(m in text for m in THROTTLE_MARKERS):
        # One 429 on one renderer invocation fails Remotion's whole render (its JS client
        # does not retry): a new attempt of ours, later, usually finds capacity
        # (bounded by worker.max_attempts; the final message says so).
        return ("failed", "AWS Lambda throttled the render's functions (account concurrency "
                "limit reached); lower RENDERBOT_REMOTION__CONCURRENCY_LIMIT or raise the "
                f"account's limit: {message}", True)
    if is_flaky(text):
        if error.get("type") == "renderer":
            tries = error.get("totalAttempts") or error.get("attempt") or 1
            return ("failed", f"a chunk kept failing after {tries} tries on Remotion Lambda: "
                    f"{message}", False)
        return "failed", f"Remotion Lambda failed (transient): {message}", True
    if any(m.lower() in text.lower() for m in INFRASTRUCTURE_MARKERS):
        return "failed", f"the render failed on Remotion Lambda: {message}", False
    # a bare "Error: " says nothing ("TypeError: ..." does); the real function prefixes it
    return "failed", f"the composition failed: {message.removeprefix('Error: ')}", False
