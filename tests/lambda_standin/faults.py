"""The faults the Lambda stand-in injects on demand (:class:`Faults`)."""

from __future__ import annotations

from dataclasses import dataclass

FLAKY_STACK = (
    "Error: Protocol error (Runtime.callFunctionOn): Target closed.\n"
    "    at CDPSession.send (/var/task/node_modules/@remotion/renderer/dist/browser/Connection.js:223:35)\n"
    "    at renderFrameWithOptionToReject (/var/task/node_modules/@remotion/renderer/dist/render-frames.js:210:11)"
)


@dataclass
class Faults:
    throttle: int = 0  # the next N invocations of `throttle_types` answer HTTP 429
    throttle_types: tuple[str, ...] = ("start",)
    flaky_chunks: int = 0  # the next render's chunk 0 fails this many times ("Target closed")
    fatal: str | None = None  # the next render fails with this (composition) error
    timeout: bool = False  # the next render never finishes: the function times out
    status_lag: float = 0.0  # progress.json shows "done" this long after the webhook went out
    webhook_delay: float = 0.0  # the completion webhook goes out this long after "done"
