"""The preview still in the Slack quote (issue 17): the quote modal is answered at once
(the 3 s ack) with a "Preparing a preview…" line, then updated with an image block whose
``image_url`` is the preview's signed link — or one line saying why there is none (rate
limit, no still in time, …); the quote stays usable either way.

A modal cannot be read back from Slack, so a preview that arrives after the user moved on
(Confirm, Draft, Back) must not put the quote back: the listeners of those steps call
:func:`moved_on` and a late preview for that view is dropped. Kept per process, which is
where a view's interactions land while the API runs one Slack app per process; in the
worst case (another process) a late preview shows the quote again, which Slack's Confirm
would only re-submit with the same idempotency key (nothing more charged).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from bots import flow
from bots.slack import followup_blocks as fb
from core.errors import RenderbotError
from core.runtime import Runtime
from core.settings import Settings

log = logging.getLogger("renderbot.slack.previews")

_moved: dict[str, float] = {}  # view id -> when it left the quote
_KEEP = 600.0


def moved_on(view_id: str | None) -> None:
    """The quote in this view was confirmed or left: a late preview must not show it again."""
    if not view_id:
        return
    now = time.monotonic()
    _moved[view_id] = now
    if len(_moved) > 1000:
        for key in [k for k, at in _moved.items() if at < now - _KEEP]:
            _moved.pop(key, None)


def has_moved_on(view_id: str) -> bool:
    return view_id in _moved


def reason(error: BaseException) -> str:
    """One short line for the user (no stack trace, no host or path)."""
    if isinstance(error, RenderbotError):
        text = flow.friendly(error).removeprefix("That did not work — ")
        return text.splitlines()[0][:150] if text else "it could not be made"
    return "it could not be made right now"


async def preview_block(rt: Runtime, settings: Settings, user: flow.ChatUser, *,
                        project_id: str, project_name: str,
                        render_settings: dict[str, Any]) -> dict[str, Any]:
    """The preview's image block, or the line saying why there is none."""
    try:
        shown = await flow.preview(runtime=rt, settings=settings, user=user,
                                   project_id=project_id, render_settings=render_settings)
    except RenderbotError as exc:
        log.info("no preview for %s/%s: %s", user.team_id, user.user_id, exc)
        return fb.preview_unavailable(reason(exc))
    except Exception as exc:  # noqa: BLE001 - the quote stays usable without it
        log.warning("preview failed for %s/%s", user.team_id, user.user_id, exc_info=True)
        return fb.preview_unavailable(reason(exc))
    return fb.preview_image(shown.url, shown.width, shown.height, project_name)


async def show_later(client, rt: Runtime, settings: Settings, user: flow.ChatUser, *,
                     view_id: str, project_id: str, project_name: str,
                     render_settings: dict[str, Any],
                     build: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
    """After the ack: make the preview, then update the quote view ``build(block)``."""
    block = await preview_block(rt, settings, user, project_id=project_id,
                                project_name=project_name, render_settings=render_settings)
    if has_moved_on(view_id):
        log.info("preview for view %s arrived after the user moved on; dropped", view_id)
        return
    try:
        await client.views_update(view_id=view_id, view=build(block))
    except Exception:  # noqa: BLE001 - the modal was closed, or Slack had a moment
        log.info("could not show the preview in view %s", view_id, exc_info=True)
