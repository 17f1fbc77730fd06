"""Discord message payloads and texts: pure functions, schemas in, JSON/text out.

The status message is built as the raw REST payload (``content``, ``components``,
``allowed_mentions``) because two processes send it: the bot posts it, the worker's
notifier edits it with the bot token. Both build it here, so it looks the same either way.
"""

from __future__ import annotations

from typing import Any

from bots import progress
from bots.discord import custom_ids
from core.schemas import CreditsRead, JobRead, ProjectRead, QuoteRead

BUTTON, ACTION_ROW = 2, 1
PRIMARY, SECONDARY, SUCCESS, DANGER, LINK = 1, 2, 3, 4, 5
MAX_CONTENT = 2000
MAX_URL = 512  # Discord's limit for a link button's url


def mention(user_id: Any) -> str:
    return f"<@{user_id}>"


def status_payload(job: JobRead) -> dict[str, Any]:
    """The public status message of a job, for every state."""
    origin = job.origin or {}
    user_id = origin.get("user_id")
    title = origin.get("title")
    line = progress.status(job)
    head = f"{line.emoji} **{line.headline}**" + (f" — {title}" if title else "")
    lines = [head, f"{progress.settings_summary(job.settings)} · "
                   f"{progress.credits(job.credit_cost)}"]
    if line.bar is not None:
        detail = f" · {line.detail}" if line.detail and line.key != "completed" else ""
        lines.append(f"`{line.bar}` {line.percent}{detail}")
    url = job.result_url if job.status == "completed" else None
    if line.terminal:
        who = f"{mention(user_id)} " if user_id and job.status != "cancelled" else ""
        lines.append(f"{who}{line.detail}")
        if url and len(url) > MAX_URL:
            lines.append(f"[Download the video]({url})")
    lines.append(f"-# job `{job.id}`")
    components: list[dict[str, Any]] = []
    if not line.terminal:
        components.append(_row(_button(
            "Cancelling…" if line.key == "cancelling" else "Cancel",
            custom_id=custom_ids.cancel(job.id), style=DANGER,
            disabled=line.key == "cancelling",
        )))
    elif job.status == "completed":
        components.extend(followup_rows(job, url if url and len(url) <= MAX_URL else None))
    poster = getattr(job, "poster_url", None) if job.status == "completed" else None
    return {
        "content": _fit("\n".join(lines)),
        "components": components,
        "embeds": [{"image": {"url": poster}}] if poster and len(poster) <= 2048 else [],
        "allowed_mentions": {"parse": [], "users": [str(user_id)] if user_id else []},
    }


def is_draft(job: JobRead) -> bool:
    return bool(getattr(job.settings, "draft", False))


def followup_rows(job: JobRead, url: str | None) -> list[dict[str, Any]]:
    """The finished message's buttons: the download link, then follow-ups that each lead
    to a new quote (never a charge without a Confirm)."""
    first = [{"type": BUTTON, "style": LINK, "label": "Download video", "url": url}] if url else []
    first.append(_button("Render again", custom_id=custom_ids.again(job.id), style=SECONDARY))
    if is_draft(job):
        first.append(_button("Full quality", custom_id=custom_ids.full(job.id), style=PRIMARY))
    second = [_button(label, custom_id=custom_ids.variant(aspect, job.id), style=SECONDARY)
              for aspect, label in custom_ids.VARIANT_LABELS.items()]
    return [_row(*first), _row(*second)]


def ping_payload(job: JobRead) -> dict[str, Any] | None:
    """A short reply that notifies the user (edits never ping): completion or failure."""
    origin = job.origin or {}
    user_id, message_id = origin.get("user_id"), origin.get("message_id")
    if not user_id or job.status not in ("completed", "failed"):
        return None
    title = origin.get("title") or "your project"
    if job.status == "completed":
        text = f"{mention(user_id)} your render of **{title}** is ready."
    else:
        text = f"{mention(user_id)} your render of **{title}** failed. " + (
            progress.refund_text(job) or "")
    payload: dict[str, Any] = {
        "content": _fit(text.strip()),
        "allowed_mentions": {"parse": [], "users": [str(user_id)], "replied_user": False},
    }
    if message_id:
        payload["message_reference"] = {"message_id": str(message_id), "fail_if_not_exists": False}
    return payload


def jump_url(guild_id: Any, channel_id: Any, message_id: Any) -> str:
    return f"https://discord.com/channels/{guild_id or '@me'}/{channel_id}/{message_id}"


def picker_text() -> str:
    return "**Render** — which project?"


def no_projects_text() -> str:
    return (
        "You have no projects yet. Create one with the HTTP API or `renderbot projects create`, "
        "or link an account that has projects with `/link CODE`."
    )


def form_text(project: ProjectRead | str, *, size_name: str | None = None) -> str:
    name = project.name if isinstance(project, ProjectRead) else project
    return (
        f"**Render {name}** — pick the size, frame rate, quality and effects, "
        "then choose the duration to see the cost."
    )


def quote_text(quote: QuoteRead, project_name: str) -> str:
    return (
        f"**Quote for {project_name}**\n{progress.settings_summary(quote.settings)}\n"
        f"{progress.quote_text(quote)}"
    )


def draft_line(price: int | None) -> str:
    """The quote's second line: what the Draft button costs."""
    if price is None:
        return ""
    return (f"\nDraft: {progress.credits(price)} — half size, ≤ 15 fps, low quality, "
            "marked DRAFT")


def not_owner_text() -> str:
    return "Only the person who started this render can use its buttons."


def preview_failed_text(reason: str) -> str:
    return f"-# No preview this time: {reason}. The quote stands."


def problem_text(project_name: str, problem: str) -> str:
    return f"**{project_name}** — {problem}"


def submitted_text(job: JobRead, where: str | None) -> str:
    what = "Draft submitted ✓" if is_draft(job) else "Submitted ✓"
    text = f"{what} — {progress.credits(job.credit_cost)} charged."
    return f"{text} Progress: {where}" if where else text


def already_submitted_text(job: JobRead) -> str:
    return f"This quote was already confirmed (job `{job.id}`, {job.status})."


def credits_text(statement: CreditsRead) -> str:
    lines = [f"**Balance: {progress.credits(statement.balance)}**"]
    for entry in statement.entries:
        sign = "+" if entry.amount > 0 else "−"
        what = entry.note or (f"job `{entry.job_id}`" if entry.job_id else entry.kind)
        lines.append(f"{sign}{abs(entry.amount)} · {entry.kind} · {what} · "
                     f"<t:{int(entry.created_at.timestamp())}:R>")
    return _fit("\n".join(lines))


def renders_text(jobs: list[JobRead], where: str | None = None) -> str:
    """``where``: one line saying where the renders go (core.storage.destinations)."""
    if not jobs:
        empty = "No renders yet — start one with `/render`."
        return f"{empty}\n{where}" if where else empty
    lines = ["**Your recent renders**", *([where] if where else [])]
    for job in jobs:
        line = progress.status(job)
        text = f"{line.emoji} `{job.id}` {line.headline.lower()}"
        if not line.terminal:
            text += f" {line.percent}"
        text += f" · {progress.settings_summary(job.settings)}"
        if job.status == "completed" and job.result_url:
            text += f" · [download]({job.result_url})"
        elif job.status == "failed" and job.error:
            text += f" · {job.error[:80]}"
        if len("\n".join([*lines, text])) > MAX_CONTENT:
            break
        lines.append(text)
    return "\n".join(lines)


def linked_text(name: str, balance: int) -> str:
    return (f"Linked ✓ — this Discord account now uses the account **{name}** "
            f"({progress.credits(balance)}).")


def error_text(correlation_id: str) -> str:
    return (f"Something went wrong on our side (error id `{correlation_id}`). Please try "
            "again; if it keeps happening, give the error id to an admin.")


def _button(label: str, *, custom_id: str, style: int, disabled: bool = False) -> dict[str, Any]:
    return {"type": BUTTON, "style": style, "label": label, "custom_id": custom_id,
            "disabled": disabled}


def _row(*components: dict[str, Any]) -> dict[str, Any]:
    return {"type": ACTION_ROW, "components": list(components)}


def _fit(text: str) -> str:
    return text if len(text) <= MAX_CONTENT else text[: MAX_CONTENT - 1] + "…"
