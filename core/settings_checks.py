"""Validators shared by the settings sections (core/settings.py): each refuses a bad
value in one line naming its ``RENDERBOT_...`` variable."""

from __future__ import annotations

from urllib.parse import urlsplit


def url_check(env_name: str, schemes: tuple[str, ...] = ("http", "https"), *, optional: bool = True):
    """A validator: an absolute URL with one of ``schemes`` and a host (if ``optional``,
    unset/empty = None), else one line naming the setting (never echoing the value: it
    may hold a password)."""

    def check(value: str | None) -> str | None:
        if optional and (value is None or value == ""):
            return None
        try:
            parts = urlsplit(value)
            ok = parts.scheme in schemes and bool(parts.hostname) and parts.port != 0
        except ValueError:
            ok = False
        if not ok or any(c.isspace() for c in value):
            raise ValueError(f"{env_name}: must be a {' or '.join(schemes)} URL with a host")
        return value

    return check


def cidrs_check(env_name: str):
    """A validator: every entry a CIDR, else one line naming the setting and the entry."""

    def check(value: list[str]) -> list[str]:
        from core.network import parse_networks

        try:
            parse_networks(value)
        except ValueError as exc:
            raise ValueError(f"{env_name}: {exc}") from None
        return value

    return check
