"""Listeners that acknowledge first, and what happens when they fail after that.

slack-bolt (1.x, its asyncio listener runner) resets a request's acknowledgement when a
listener raises after it acked: the runner polls every 10 ms for the ack, and when the
exception arrives before that poll the ack is lost. Bolt then waits out its 3 s ack
timeout and answers Slack 404, and the user sees "/render failed" (operation_timeout)
beside the error message the app sent. An unknown project name did that most times: the
listener acked and raised within a few milliseconds.

:func:`acknowledged` wraps such a listener: an error after its ``ack()`` is told to the user
here, the same way the app's error handler does (``replies.explain`` + ``replies.tell``),
and bolt never sees it. Listeners that answer through ``ack()`` itself (a view
submission's errors) are not wrapped: their errors go to the error handler before the
ack, which carries the answer in the HTTP response.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from bots.slack.replies import explain, tell

log = logging.getLogger("renderbot.slack")
_NEEDED = ("body", "client", "respond")  # what telling the user takes


def acknowledged(listener: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """``listener`` (which calls ``ack()`` before any work) with its errors told to the user.

    Bolt passes a listener the arguments its signature names; the wrapper's signature is the
    listener's plus what telling the user takes, and the listener gets only its own."""
    own = list(inspect.signature(listener).parameters)
    names = own + [name for name in _NEEDED if name not in own]

    async def run(**kwargs: Any) -> Any:
        try:
            return await listener(**{name: kwargs[name] for name in own})
        except Exception as error:  # noqa: BLE001 - told to the user, never raised to bolt
            await report(error, kwargs["body"], kwargs["client"], kwargs["respond"])
            return None

    run.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD) for name in names])
    run.__name__ = listener.__name__
    run.__qualname__ = listener.__qualname__
    run.__doc__ = listener.__doc__
    return run


async def report(error: BaseException, body: dict[str, Any], client, respond) -> None:
    """Tell the user about ``error`` of a request already acknowledged."""
    text = explain(error)
    try:
        await tell(client, body, text, respond)
    except Exception:  # noqa: BLE001
        log.warning("could not tell the Slack user about an error", exc_info=True)
