"""`renderbot dashboard`: the Streamlit admin dashboard, as a child process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import typer

from cli.common import console, fail, load_settings, prepare_database

APP = Path(__file__).resolve().parent.parent / "dashboard" / "app.py"


def streamlit_command(host: str, port: int) -> list[str]:
    return [
        sys.executable, "-m", "streamlit", "run", str(APP),
        "--server.address", host,
        "--server.port", str(port),
        "--server.headless", "true",
        "--server.fileWatcherType", "none",
        "--server.runOnSave", "false",
        "--browser.gatherUsageStats", "false",
        "--global.developmentMode", "false",
        "--client.showErrorDetails", "none",
        "--client.toolbarMode", "minimal",
        "--theme.base", "light",
    ]


def _any_admin(settings) -> bool:
    import asyncio

    from core.admin import admins
    from core.db import Database

    async def count() -> int:
        db = Database(settings.database_url)
        try:
            async with db.transaction() as s:
                return await admins.count(session=s)
        finally:
            await db.dispose()

    try:
        return asyncio.run(count()) > 0
    except Exception as exc:  # noqa: BLE001 - one line, no traceback
        fail(f"database: {exc.__class__.__name__}: {str(exc).splitlines()[0][:200]}")
        raise


def dashboard(
    host: str = typer.Option("127.0.0.1", "--host", help="interface to bind"),
    port: int = typer.Option(8501, "--port", min=1, max=65535),
) -> None:
    """Run the admin dashboard (Streamlit) on the configured database; admins sign in
    by name and password (`renderbot admins create`)."""
    settings = load_settings()
    try:
        prepare_database(settings)
    except Exception as exc:  # noqa: BLE001 - one line, no traceback
        fail(f"database: {exc.__class__.__name__}: {str(exc).splitlines()[0][:200]}")
    if not settings.dashboard.trusted_user_header and not _any_admin(settings):
        fail("no dashboard admin yet: run `renderbot admins create NAME --role operator` first")
    console.print(f"dashboard on http://{host}:{port} ({settings.database_url.split('://')[0]})")
    child = subprocess.Popen(streamlit_command(host, port), env=os.environ.copy())

    def forward(signum, _frame):
        child.send_signal(signum)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, forward)
    raise typer.Exit(child.wait())
