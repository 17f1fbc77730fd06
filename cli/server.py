"""`renderbot serve` (all-in-one: API + in-process worker) and `renderbot api` (production)."""

from __future__ import annotations

import contextlib
import logging

import typer

from cli.common import fail, load_settings, prepare_database
from core.settings import Settings

log = logging.getLogger("renderbot.cli")

HOST_OPTION = typer.Option(None, "--host", help="address to bind (default RENDERBOT_API__HOST, 127.0.0.1)")
PORT_OPTION = typer.Option(None, "--port", min=0, max=65535,
                           help="port to bind (default RENDERBOT_API__PORT, 8000)")


def _bind(settings: Settings, host: str | None, port: int | None) -> tuple[Settings, str, int]:
    host = host or settings.api.host
    port = settings.api.port if port is None else port
    if "public_base_url" not in settings.model_fields_set:
        # Links must point at where we listen unless RENDERBOT_PUBLIC_BASE_URL says otherwise.
        shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        shown = f"[{shown}]" if ":" in shown else shown
        settings = settings.model_copy(update={"public_base_url": f"http://{shown}:{port}"})
    return settings, host, port


def _server_class():
    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn re-raises SIGINT/SIGTERM once it has shut down, which would kill the
        process before the in-process worker stops; we stop it, then exit normally."""

        @contextlib.contextmanager
        def capture_signals(self):
            with super().capture_signals():
                try:
                    yield
                finally:
                    captured = getattr(self, "_captured_signals", None)
                    if isinstance(captured, list):
                        captured.clear()

    return Server


def serve(host: str | None = HOST_OPTION, port: int | None = PORT_OPTION) -> None:
    """All-in-one: the HTTP API and a render worker in this process (embedded default)."""
    import uvicorn

    from api.app import create_app
    from core import logs
    from core.runtime import Runtime
    from jobs.worker import RenderWorker

    settings, host, port = _bind(load_settings(), host, port)
    if not settings.broker_url.startswith("memory"):
        fail("renderbot serve runs its own in-process queue; unset RENDERBOT_BROKER_URL "
             "or run `renderbot api` and `renderbot worker` for Redis")
    logs.configure(settings.api.log_format, uncaught=True)
    try:
        prepare_database(settings)
    except Exception as exc:  # noqa: BLE001
        fail(f"database: {exc.__class__.__name__}: {str(exc).splitlines()[0][:200]}")
    worker = RenderWorker(Runtime(settings)).start()
    if settings.discord_token is not None:
        _discord_in_background(settings)
    try:
        server = _server_class()(
            uvicorn.Config(
                create_app(settings), host=host, port=port, log_config=None,
                access_log=False, proxy_headers=True, lifespan="on",
            )
        )
        log.warning("renderbot serve: API on %s, links via %s", f"http://{host}:{port}",
                    settings.public_base_url)
        server.run()
    finally:
        worker.stop()
    if not server.started:
        fail(f"the API could not start on {host}:{port}")


def _discord_in_background(settings: Settings) -> None:
    """`serve` also runs the Discord bot when its token is set (Slack rides in the API)."""
    import asyncio
    import threading

    from bots.discord.bot import run

    def main() -> None:
        try:
            asyncio.run(run(settings))
        except Exception:  # noqa: BLE001 - the API and worker keep serving
            log.exception("the Discord bot stopped")

    threading.Thread(target=main, name="discord-bot", daemon=True).start()
    log.warning("renderbot serve: Discord bot started")


def api(
    host: str | None = HOST_OPTION,
    port: int | None = PORT_OPTION,
    workers: int | None = typer.Option(
        None, "--workers", min=1,
        help="uvicorn worker processes (default: one per CPU; a create is CPU-bound Python)"),
) -> None:
    """The HTTP API alone (production: PostgreSQL, Redis, `renderbot worker` elsewhere)."""
    import os

    import uvicorn

    from core import logs

    settings = load_settings()
    _, host, port = _bind(settings, host, port)
    logs.configure(settings.api.log_format, uncaught=True)
    if settings.broker_url.startswith("memory"):
        log.warning("renderbot api on the in-process queue: renders stay queued until a "
                    "`renderbot serve` picks them up; set RENDERBOT_BROKER_URL=redis://...")
    try:
        prepare_database(settings)
    except Exception as exc:  # noqa: BLE001
        fail(f"database: {exc.__class__.__name__}: {str(exc).splitlines()[0][:200]}")
    if workers is None:
        workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
            os.cpu_count() or 1)
    uvicorn.run(
        "api.app:create_app_from_env", factory=True, host=host, port=port, workers=workers,
        log_config=None, access_log=False, proxy_headers=True, lifespan="on",
    )
