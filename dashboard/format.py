"""How figures are written on the page (shared with the tests that read them back)."""

from __future__ import annotations

from datetime import datetime


def seconds(value: float | None) -> str:
    if value is None:
        return "—"
    if value < 120:
        return f"{value:.1f} s"
    if value < 7200:
        return f"{value / 60:.1f} min"
    return f"{value / 3600:.1f} h"


def pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def count(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def usd(value: float | None) -> str:
    return "—" if value is None else f"${value:,.4f}"


def when(value: datetime | None) -> str:
    return "—" if value is None else value.strftime("%Y-%m-%d %H:%M:%S UTC")


def destination(dest, expired_at: datetime | None = None) -> str:
    """Where a job's video went (issue 16): the creator's bucket (never its secret) or the
    default storage, and when retention deleted it."""
    if dest is None:
        where = "storage: the default storage"
    else:
        prefix = f"/{dest.prefix}" if dest.prefix else ""
        where = (f"storage: the creator's bucket {dest.bucket}{prefix} at {dest.endpoint} "
                 f"(key {dest.access_key_id_hint})")
    if expired_at is not None:
        where += f" · video deleted by retention {when(expired_at)}"
    return where
