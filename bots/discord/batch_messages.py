"""Discord texts and payloads for batches (issue 18): the quote with each variant's price,
and ONE public status message per batch (a line per variant, then every link). Built here
for the bot (posts it) and the workers' notifier (edits it), like ``messages.py``."""

from __future__ import annotations

from typing import Any

from bots import progress
from bots.discord import custom_ids
from bots.discord.messages import DANGER, _button, _fit, _row, mention
from core.batches import BatchQuoteRead, BatchRead


def quote_text(quote: BatchQuoteRead, project_name: str, fmt: str) -> str:
    summary = progress.settings_summary(quote.settings).split(" · ", 1)[1]
    lines = [f"**Quote for {project_name}** — {len(quote.variants)} variants · {fmt}", summary]
    lines += [f"• {v.resolution[0]}×{v.resolution[1]}: {progress.credits(v.credit_cost)}"
              for v in quote.variants]
    lines.append(progress.quote_text(quote))
    return "\n".join(lines)


def submitted_text(batch: BatchRead, where: str | None) -> str:
    text = (f"Submitted ✓ — {len(batch.jobs)} variants, "
            f"{progress.credits(batch.credit_cost)} charged once.")
    return f"{text} Progress: {where}" if where else text


def already_submitted_text(batch: BatchRead) -> str:
    return f"This quote was already confirmed (batch `{batch.id}`, {batch.status})."


def variant_line(job) -> str:
    w, h = job.settings.resolution
    line = progress.status(job)
    url = job.result_url if job.status == "completed" else None
    if url:
        tail = f"[download]({url})"
    elif line.bar is not None and not line.terminal:
        tail = f"`{line.bar}` {line.percent}"
    else:
        tail = line.detail or line.headline
    return f"{line.emoji} {w}×{h}: {tail}"


def status_payload(batch: BatchRead) -> dict[str, Any]:
    """The batch's ONE status message; "Cancel all" while any variant is unfinished."""
    origin = (batch.jobs[0].origin if batch.jobs else None) or {}
    user_id, title = origin.get("user_id"), origin.get("title")
    done = all(j.is_final for j in batch.jobs)
    emoji = "✅" if batch.status == "completed" else ("🏁" if done else "🎬")
    lines = [f"{emoji} **Batch of {len(batch.jobs)}**" + (f" — {title}" if title else "")]
    lines += [variant_line(j) for j in batch.jobs]
    if done and user_id and batch.status != "cancelled":
        lines.append(f"{mention(user_id)} every variant has ended.")
    lines.append(f"-# {progress.credits(batch.credit_cost)} · batch `{batch.id}`")
    components = [] if done else [_row(_button(
        "Cancel all", custom_id=custom_ids.cancel_batch(batch.id), style=DANGER))]
    return {
        "content": _fit("\n".join(lines)),
        "components": components,
        "allowed_mentions": {"parse": [], "users": [str(user_id)] if user_id else []},
    }


def ping_payload(batch: BatchRead, message_id: str) -> dict[str, Any] | None:
    """A reply that notifies the user once every variant has ended (edits never ping)."""
    user_id = ((batch.jobs[0].origin if batch.jobs else None) or {}).get("user_id")
    if not user_id or batch.status == "cancelled":
        return None
    links = ", ".join(f"[{j.settings.resolution[0]}×{j.settings.resolution[1]}]({j.result_url})"
                      for j in batch.jobs if j.status == "completed" and j.result_url)
    text = f"{mention(user_id)} your batch has ended" + (f": {links}" if links else ".")
    return {
        "content": _fit(text),
        "allowed_mentions": {"parse": [], "users": [str(user_id)], "replied_user": False},
        "message_reference": {"message_id": str(message_id), "fail_if_not_exists": False},
    }
