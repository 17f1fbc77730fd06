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
