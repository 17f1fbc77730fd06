"""Slack blocks for batches (issue 18): the submitted modal and the batch's ONE status
message (a line per variant, then every link; "Cancel all" while any is unfinished)."""

from __future__ import annotations

from typing import Any

from bots import progress
from bots.slack.blocks import (
    CANCEL,
    MAX_TEXT,
    MAX_URL,
    _context,
    _cut,
    _md,
    _plain,
    _section,
    escape,
    mention,
)
from core.batches import BatchRead


def batch_submitted_view(batch: BatchRead, *, created: bool) -> dict[str, Any]:
    if created:
        text = (f":white_check_mark: Submitted {len(batch.jobs)} variants — "
                f"{progress.credits(batch.credit_cost)} charged.\n"
                "I'll post the progress in the channel (or in a DM if I can't post there).")
    else:
        text = (f"This quote was already confirmed (batch `{batch.id}`, {batch.status}). "
                "Nothing more was charged.")
    return {"type": "modal", "title": _plain("Render submitted", 24), "close": _plain("Close"),
            "blocks": [_section(text), _context(f"batch `{batch.id}`")]}


def batch_status_message(batch: BatchRead) -> dict[str, Any]:
    """ONE status message for a batch: a line per variant (progress, then its link) and a
    Cancel button while any variant is unfinished (it cancels every unfinished one)."""
    first = batch.jobs[0] if batch.jobs else None
    origin = (first.origin if first else None) or {}
    title, user_id = origin.get("title"), origin.get("user_id")
    done = all(j.is_final for j in batch.jobs)
    head = (f"{'✅' if batch.status == 'completed' else '🎬' if not done else '🏁'} "
            f"*Batch of {len(batch.jobs)}*" + (f" — {escape(title)}" if title else ""))
    blocks: list[dict[str, Any]] = [_section(head)]
    lines = []
    for job in batch.jobs:
        w, h = job.settings.resolution
        line = progress.status(job)
        url = job.result_url if job.status == "completed" else None
        if url and len(url) <= MAX_URL // 4:
            tail = f"<{url}|download>"
        elif line.bar is not None and not line.terminal:
            tail = f"`{line.bar}` {line.percent}"
        else:
            tail = escape(line.detail or line.headline)
        lines.append(f"{line.emoji} {w}×{h}: {tail}")
    blocks.append(_section("\n".join(lines)))
    if done and user_id and batch.status != "cancelled":
        blocks.append(_section(f"{mention(user_id)} every variant has ended."))
    blocks.append(_context(f"{progress.credits(batch.credit_cost)} · batch `{batch.id}`"))
    if not done:
        blocks.append({"type": "actions", "block_id": "status", "elements": [{
            "type": "button", "action_id": CANCEL, "text": _plain("Cancel all"),
            "style": "danger", "value": f"batch:{batch.id}",
            "confirm": {"title": _plain("Cancel this batch?", 100),
                        "text": _md("Unfinished variants stop and are refunded."),
                        "confirm": _plain("Cancel batch"), "deny": _plain("Keep rendering")},
        }]})
    text = f"Batch of {len(batch.jobs)}: {batch.status}"
    return {"text": _cut(escape(text), MAX_TEXT), "blocks": blocks}
