"""Block Kit pieces of issue 17 (pure, no I/O): the preview image and the Draft button in
the quote, the poster image and the follow-up buttons of a finished status message.

    quote modal:     … summary · [image: preview] · cost · [Draft · N credits] [◀ Back]
                     (Confirm stays the modal's submit; Draft submits a draft job)
    finished status: … · [image: poster] · [Download] [Render again] [Full quality]
                     [Vertical 9:16] [Square 1:1]  (Full quality only after a draft)

Every follow-up leads to a NEW quote modal: nothing is charged without a Confirm.
"""

from __future__ import annotations

from typing import Any

from bots import progress
from bots.slack.blocks import MAX_URL, _context, _plain, escape
from core.schemas import JobRead, QuoteRead

DRAFT = "render_draft"
AGAIN, FULL, VERTICAL, SQUARE = "render_again", "render_full", "render_vertical", "render_square"
FOLLOWUPS = {AGAIN: "Render again", FULL: "Full quality", VERTICAL: "Vertical 9:16",
             SQUARE: "Square 1:1"}
ASPECT_OF = {VERTICAL: "9:16", SQUARE: "1:1"}
PREVIEW_BLOCK, PREVIEW_PENDING = "preview", "preview_pending"
MAX_ALT = 2000  # an image block's alt_text


def is_draft(settings: Any) -> bool:
    value = settings.get("draft") if isinstance(settings, dict) else getattr(settings, "draft", False)
    return bool(value)


def image(url: str, alt: str, *, block_id: str | None = None, title: str | None = None) -> dict:
    """An image block (Slack fetches ``image_url`` itself: a public, signed link)."""
    block: dict[str, Any] = {"type": "image", "image_url": url,
                             "alt_text": alt[:MAX_ALT] or "image"}
    if block_id:
        block["block_id"] = block_id
    if title:
        block["title"] = _plain(title, 2000)
    return block


# --- the quote -----------------------------------------------------------------------------


def preview_pending() -> dict[str, Any]:
    return {**_context(":frame_with_picture: Preparing a preview…"), "block_id": PREVIEW_PENDING}


def preview_image(url: str, width: int, height: int, project_name: str) -> dict[str, Any]:
    alt = f"Preview of {project_name} at {width}×{height}"  # plain text: no escaping needed
    return image(url, alt, block_id=PREVIEW_BLOCK, title=f"Preview · {width}×{height}")


def preview_unavailable(reason: str) -> dict[str, Any]:
    """One line: the quote stays usable without a preview."""
    return {**_context(f":frame_with_picture: No preview: {escape(reason)}"),
            "block_id": PREVIEW_BLOCK}


def draft_button(draft_quote: QuoteRead) -> dict[str, Any]:
    """Beside Back in the quote: submits a draft (half size, ≤ 15 fps, DRAFT mark)."""
    return {"type": "button", "action_id": DRAFT, "value": "draft",
            "text": _plain(f"Draft · {progress.credits(draft_quote.credit_cost)}"),
            "confirm": {"title": _plain("Render a draft?", 100),
                        "text": {"type": "mrkdwn", "text": (
                            f"A quick draft (half size, at most 15 fps, marked DRAFT) for "
                            f"*{progress.credits(draft_quote.credit_cost)}*; balance "
                            f"{draft_quote.balance} → {draft_quote.balance_after}.")},
                        "confirm": _plain("Render draft"), "deny": _plain("Back")}}


def draft_line(draft_quote: QuoteRead) -> dict[str, Any]:
    return _context(f"Not sure yet? A draft (half size, ≤ 15 fps, DRAFT mark) costs "
                    f"{progress.credits(draft_quote.credit_cost)}.")


# --- the finished status message -----------------------------------------------------------


def poster(job: JobRead) -> dict[str, Any] | None:
    url = getattr(job, "poster_url", None)
    if job.status != "completed" or not url or len(url) > MAX_URL:
        return None
    title = (job.origin or {}).get("title") or "the video"
    return image(url, f"Poster frame of {title}", block_id="poster")


def followup_buttons(job: JobRead) -> list[dict[str, Any]]:
    """The buttons after a completed single job (a batch's message has its own)."""
    if job.status != "completed" or job.batch_id:
        return []
    wanted = [AGAIN] + ([FULL] if is_draft(job.settings) else []) + [VERTICAL, SQUARE]
    return [{"type": "button", "action_id": a, "text": _plain(FOLLOWUPS[a]), "value": job.id}
            for a in wanted]


def not_yours_text(owner_id: str | None) -> str:
    who = f"<@{owner_id}>" if owner_id else "the person who started it"
    return f"Only {who} can use the buttons of this render. Start your own with `/render`."
