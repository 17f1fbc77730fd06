"""Who may open the dashboard (no Streamlit here: ``renderbot dashboard`` uses it too).

With ``RENDERBOT_DASHBOARD__PASSWORD`` set, every session signs in with it (or opens a
link with ``?token=<password>``). Without it the dashboard only runs bound to localhost.
"""

from __future__ import annotations

import hmac
import ipaddress

from core.settings import Settings


def is_local(host: str | None) -> bool:
    if not host:
        return False  # Streamlit's default binds every interface
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def start_refusal(settings: Settings, host: str | None) -> str | None:
    """Why the dashboard must not start on ``host`` (None when it may)."""
    if settings.dashboard.password is None and not is_local(host):
        return (
            f"refusing to serve the dashboard on {host or 'every interface'} without a password:"
            " set RENDERBOT_DASHBOARD__PASSWORD or bind to 127.0.0.1"
        )
    return None


def password_ok(settings: Settings, given: str | None) -> bool:
    expected = settings.dashboard.password
    if expected is None or not given:
        return False
    return hmac.compare_digest(given.encode(), expected.get_secret_value().encode())
