"""`renderbot discord`: the Discord bot on the gateway (plus a worker on the embedded default)."""

from __future__ import annotations

import asyncio
import logging

import typer

from cli.common import console, fail, load_settings, prepare_database

log = logging.getLogger("renderbot.cli")


def discord_command(
    worker: bool | None = typer.Option(
        None, "--worker/--no-worker",
        help="also run a render worker in this process (default: on with the in-process "
             "queue, off with Redis, where `renderbot worker` runs the renders)",
    ),
) -> None:
    """Run the Discord bot: /render, /credits, /renders, /link."""
    import discord

    from bots.discord.bot import run

    settings = load_settings()
    if settings.discord_token is None:
        fail("set RENDERBOT_DISCORD_TOKEN to the bot token of your Discord application")
    prepare_database(settings)
    from core import logs

    logs.configure(settings.api.log_format, uncaught=True)  # RENDERBOT_API__LOG_FORMAT=json: every process
    logging.getLogger("discord").setLevel(logging.INFO)
    with_worker = settings.broker_url.startswith("memory") if worker is None else worker
    running = None
    if with_worker:
        from core.runtime import Runtime
        from jobs.worker import RenderWorker

        running = RenderWorker(Runtime(settings)).start()
        console.print("render worker running in this process")
    try:
        asyncio.run(run(settings))
    except KeyboardInterrupt:
        pass
    except discord.LoginFailure:
        fail("Discord refused RENDERBOT_DISCORD_TOKEN (check the bot token)")
    except discord.PrivilegedIntentsRequired:
        fail("Discord refused the gateway intents (renderbot needs no privileged intents)")
    finally:
        if running is not None:
            stop_worker(running)


def stop_worker(worker) -> None:
    """Deliver the status edits still pending (final states first), then stop the worker."""
    from dramatiq.asyncio import get_event_loop_thread

    from bots.discord.notifier import DiscordNotifier

    thread = get_event_loop_thread()
    if thread is not None:
        for adapter in worker.rt.notifiers.adapters:
            if isinstance(adapter, DiscordNotifier):
                try:
                    thread.run_coroutine(adapter.close(10.0))
                except Exception:  # noqa: BLE001 - shutting down anyway
                    log.warning("could not flush the Discord status edits", exc_info=True)
    worker.stop()
