"""Every listener of the Slack app, and what happens when it fails after its ``ack()``.

slack-bolt (1.x, its asyncio listener runner) resets a request's acknowledgement when a
listener raises after it acked: the runner polls every 10 ms for the ack, and when the
exception arrives before that poll the ack is lost. Bolt then waits out its 3 s ack
timeout and answers Slack 404, and the user sees "/render failed" (operation_timeout)
beside the error message the app sent. An unknown project name did that most times: the
listener acked and raised within a few milliseconds.

:func:`acknowledged` wraps a listener and watches its ``ack``: an error after the ack is
told to the user here, the same way the app's error handler does (``replies.explain`` +
``replies.tell``), and bolt never sees it; an error before the ack still goes to bolt's
error handler, which answers in the HTTP response (a view submission's problem view, an
ephemeral line for a command).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from bots.slack.replies import explain, tell

log = logging.getLogger("renderbot.slack")
_NEEDED = ("ack", "body", "client", "respond")  # watching the ack, telling the user


def acknowledged(listener: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """``listener`` with its errors after ``ack()`` told to the user instead of raised.

    Bolt passes a listener the arguments its signature names; the wrapper's signature is the
    listener's plus what it needs itself, and the listener gets only its own."""
    own = list(inspect.signature(listener).parameters)
    names = own + [name for name in _NEEDED if name not in own]

    async def run(**kwargs: Any) -> Any:
        acked = False

        async def ack(*args: Any, **options: Any) -> Any:
            nonlocal acked
            answered = await kwargs["ack"](*args, **options)
            acked = True
            return answered

        try:
            return await listener(**{name: ack if name == "ack" else kwargs[name]
                                     for name in own})
        except Exception as error:
            if not acked:
                raise  # bolt's error handler answers in the HTTP response
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
