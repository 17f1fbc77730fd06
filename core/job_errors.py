"""What a creator reads when a render fails, and what only admins see.

One classifier for every backend. A failure has a *kind*; :func:`user_error` turns
``(kind, detail)`` into ``(text, detail)``:

* ``text`` — the job's ``error``: one line, at most 300 characters, in the creator's
  terms ("the renderer could not start"). Never a stack, a file path, a URL, a host
  name, a bucket or key, or a process's stderr.
* ``detail`` — everything we know (stderr, stack, paths), for the log line with the
  job id and the admin-only ``render_job.error_detail`` (dashboard job detail,
  ``renderbot render status --json``). The HTTP API and chat never show it.

Backends say which kind a failure is where they know it (``RenderError(kind=...)``,
``RenderStatus(error_kind=...)``); :func:`kind_of_render_error` guesses it from a
renderer's message (the local render server's, Remotion's). A message without a kind
still goes through :func:`one_line`, which strips what must never reach a creator.
"""

from __future__ import annotations

import re
from typing import Literal

Kind = Literal[
    "browser", "composition", "asset", "storage", "lambda", "timeout", "lost", "cancelled",
    "stale", "unknown", "destination",
]

MAX_TEXT = 300
MAX_DETAIL = 20_000
REFUNDED = "your credits were refunded"

TEXTS: dict[str, str] = {
    "browser": "the renderer could not start or crashed",
    "composition": "the composition failed",
    "asset": "a file the project uses (its audio or an image) could not be loaded",
    "storage": "the finished video could not be stored",
    "lambda": "the cloud renderer failed",
    "timeout": "the render took too long and was stopped",
    "lost": "the renderer lost this render",
    "cancelled": "the render was cancelled",
    "stale": "the render kept failing and was stopped",
    "unknown": "the render failed",
    "destination": "your storage bucket did not accept the video (check that it still "
                   "exists and that its key may write to it)",
}

_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://\S+", re.IGNORECASE)
_PATH = re.compile(r"(?<![\w.])(?:~|\.{1,2})?/[^\s:;,'\"()]*[^\s:;,'\"().]")
# an inline stack frame and what follows: " at fn (http://x/bundle.js:1:2)", " at /a/b.js:3:4"
_STACK_AT = re.compile(r"\s+at\s+(?:async\s+)?(?:\S+\s+)?\(?[^\s()]*:\d+(?::\d+)?\)?.*$")
_HOSTISH = re.compile(
    r"\b(?:localhost|(?:\d{1,3}\.){3}\d{1,3}(?::\d+)?|\[[0-9a-f:]+\](?::\d+)?|"
    r"(?:[a-z0-9-]+\.)+(?:com|net|org|io|dev|cloud|internal|local|lan|amazonaws\.com|"
    r"r2\.cloudflarestorage\.com)(?::\d+)?)\b",
    re.IGNORECASE,
)
_SPACES = re.compile(r"\s+")


def one_line(message: str | None, *, limit: int = MAX_TEXT) -> str:
    """The first meaningful line of ``message`` with URLs, paths, host names and stack
    frames removed, cut to ``limit`` characters (never empty)."""
    text = ""
    for line in (message or "").splitlines():
        line = line.strip()
        if not line or line.startswith(("at ", "Traceback", "File ", "---", "{")):
            continue
        text = line
        break
    text = _STACK_AT.sub("", text)
    text = _URL.sub("(a link)", text)
    text = _PATH.sub("(a file)", text)
    text = _HOSTISH.sub("(a server)", text)
    text = _SPACES.sub(" ", text).strip(" :;,-")
    if not text:
        return TEXTS["unknown"]
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def user_error(kind: str, detail: str | None = None) -> tuple[str, str]:
    """``(text for the creator, full detail for admins)`` of a failure of ``kind``.

    A composition error keeps the composition's own first line (cleaned): it is the
    creator's to fix ("Invalid Visualizer props: palette: needs 2-5 colors")."""
    base = TEXTS.get(kind, TEXTS["unknown"])
    full = (detail or "").strip()[:MAX_DETAIL]
    if kind == "composition" and full:
        reason = one_line(_composition_reason(full), limit=MAX_TEXT - len(base) - 2)
        if reason and reason != TEXTS["unknown"]:
            return f"{base}: {reason}", full
    return base, full


def final_text(text: str, *, attempts: int | None = None, refunded: bool = True) -> str:
    """The job's error once it has failed for good: how often we tried, and the refund."""
    if attempts and attempts > 1:
        text = f"{text} (tried {attempts} times)"
    if refunded:
        text = f"{text}; {REFUNDED}"
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def kind_of_render_error(message: str | None, retryable: bool) -> Kind:
    """The kind of a renderer's failure message (the local render server's, Remotion's)."""
    text = message or ""
    if _ASSET.search(text):
        return "asset"
    if _TIMEOUT.search(text):
        return "timeout"
    if _BROWSER.search(text):
        return "browser"
    return "browser" if retryable else "composition"


_ASSET = re.compile(
    r"Failed to (?:read|fetch|load)|could not (?:be )?(?:fetch|load|download)|"
    r"fetchWithCorsCatch|NetworkError|net::ERR_|MEDIA_ERR|EncodingError|"
    r"(?:audio|video|image|img|asset)\b.*\b(?:404|403|not found|failed to load)",
    re.IGNORECASE,
)
_TIMEOUT = re.compile(r"timed? ?out|timeout|no progress for", re.IGNORECASE)
_BROWSER = re.compile(
    r"Failed to launch the browser|Socket path too long|SingletonSocket|Target closed|"
    r"Session closed|(?:Page|Browser|Renderer|Tab|GPU process|Target) (?:has )?crashed|"
    r"Browser (?:has )?(?:been )?(?:disconnected|closed)|render server|chrom(?:e|ium)",
    re.IGNORECASE,
)
_SELECT_PREFIX = re.compile(r'^Could not select composition "[^"]*":\s*')


def _composition_reason(detail: str) -> str:
    first = next((line.strip() for line in detail.splitlines() if line.strip()), "")
    first = _SELECT_PREFIX.sub("", first)
    return first.removeprefix("the composition failed:").strip()
