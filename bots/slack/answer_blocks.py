"""Slack answers outside the render flow (pure, no I/O): credits, linking, help, errors."""

from __future__ import annotations

from typing import Any

from bots import progress
from bots.slack.blocks import MAX_TEXT, _cut, _section, escape
from core.schemas import AccountRead, CreditsRead


def credits_message(statement: CreditsRead) -> dict[str, Any]:
    lines = [f"*Balance: {progress.credits(statement.balance)}*"]
    for entry in statement.entries:
        sign = "+" if entry.amount > 0 else "−"
        what = escape(entry.note) if entry.note else (
            f"job `{entry.job_id}`" if entry.job_id else entry.kind)
        stamp = int(entry.created_at.timestamp())
        when = f"<!date^{stamp}^{{date_short_pretty}} {{time}}|{entry.created_at:%Y-%m-%d %H:%M} UTC>"
        lines.append(f"{sign}{abs(entry.amount)} · {entry.kind} · {what} · {when}")
    if not statement.entries:
        lines.append("No entries yet.")
    text = "\n".join(lines)
    return {"text": _cut(text, MAX_TEXT), "blocks": [_section(text)]}


def linked_text(account: AccountRead) -> str:
    return (f":link: Linked — this Slack account now uses the account *{escape(account.name)}* "
            f"({progress.credits(account.balance)}).")


def no_projects_text() -> str:
    return ("You have no projects yet. Create one with the HTTP API or `renderbot projects "
            "create`, or link an account that has projects with `/render link CODE`.")


def help_text() -> str:
    return ("*renderbot*\n"
            "`/render` — pick a project and settings, see the cost, confirm, get the video\n"
            "`/render PROJECT NAME` — the same, with that project picked\n"
            "`/render credits` — your balance and recent entries\n"
            "`/render link CODE` — use an existing renderbot account (codes come from "
            "`renderbot accounts link-code ACCOUNT` or `/link` on Discord)")


def error_text(correlation_id: str) -> str:
    return (f":warning: Something went wrong on our side (error id `{correlation_id}`). "
            "Please try again; if it keeps happening, give the error id to an admin.")
