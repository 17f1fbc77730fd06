"""The Discord notifier adapter: job changes → edits of the job's status message.

It runs wherever the worker runs (installed by ``jobs.worker.RenderWorker.start`` when a
Discord token is set). While the token of the interaction that posted the message lives
(:mod:`bots.discord.interaction_tokens`, shared through Redis) it edits through that
interaction's webhook, outside the bot's global rate limit; then through the REST API
with the bot token, so it keeps working when the bot process restarts and after the
15-minute interaction token expires.
The bot posts the status message and stores its id in ``job.origin``; until then there is
nothing to edit and changes are skipped (the bot catches up right after posting).
"""

from __future__ import annotations

import asyncio
import logging

from bots import catch_up, progress, shared_state
from bots.discord import batch_messages, delivery, interaction_tokens, messages
from bots.discord.endpoints import api_base
from bots.discord.sender import StatusSender
from core.notify import JobChange
from core.notify import state_rank as rank
from core.schemas import JobRead
from core.settings import Settings

log = logging.getLogger("renderbot.discord.notifier")


def target(job: JobRead) -> tuple[str, str] | None:
    """(channel id, message id) of the job's Discord status message, if it has one."""
    origin = job.origin or {}
    if origin.get("platform") != "discord":
        return None
    channel_id, message_id = origin.get("channel_id"), origin.get("message_id")
    if not channel_id or not message_id:
        return None
    return str(channel_id), str(message_id)


def shared_for(settings: Settings) -> shared_state.SharedState:
    """What every sender of the bot token shares — and where the bot keeps interaction
    tokens for them: keyed by the token and the API it talks to (the tests' fakes share a
    token)."""
    token = settings.discord_token.get_secret_value() if settings.discord_token else ""
    return shared_state.for_broker(settings.broker_url, "discord",
                                   f"{token}@{api_base(settings)}")


class DiscordNotifier:
    def __init__(self, sender: StatusSender, *, load_batch=None, read_video=None,
                 inline_max_bytes: int = 0) -> None:
        self.sender = sender
        # async batch id -> BatchRead (the runtime's database): a batch has ONE message
        self.load_batch = load_batch
        # async (job, max bytes) -> (filename, bytes, content type) | None: inline delivery
        self.read_video = read_video
        self.inline_max_bytes = inline_max_bytes
        self._deliveries: set[asyncio.Task] = set()

    @classmethod
    def from_settings(cls, settings: Settings) -> DiscordNotifier:
        if settings.discord_token is None:
            raise ValueError("RENDERBOT_DISCORD_TOKEN is not set")
        d = settings.discord
        token = settings.discord_token.get_secret_value()
        return cls(StatusSender(
            token=token, api_base=api_base(settings),
            edit_interval=d.edit_interval, global_rate=d.global_rate,
            shared=shared_for(settings),
        ), inline_max_bytes=d.inline_max_bytes)

    async def job_changed(self, job: JobRead, change: JobChange) -> None:
        where = target(job)
        if where is None:
            return
        channel_id, message_id = where
        batch_id = (job.origin or {}).get("batch_id")
        if batch_id and self.load_batch is not None:
            await self._batch_changed(str(batch_id), channel_id, message_id)
            return
        then = None
        # by the job's state, not the change's name: a catch-up of an ended job pings too
        # (posted once per job: the post's slot is finished, and shared across processes)
        ping = messages.ping_payload(job) if job.status in ("completed", "failed") else None
        if ping is not None:
            def then(ping=ping, channel_id=channel_id, job=job):
                self._ping(job, channel_id, ping)
        via = await interaction_tokens.lookup(self.sender.shared, message_id)
        self.sender.edit(
            channel_id, message_id, messages.status_payload(job), rank=rank(job),
            terminal=job.is_final, then=then, via=via,
        )

    def _ping(self, job: JobRead, channel_id: str, ping: dict) -> None:
        """After "Done" is shown: the ping, with the video attached when it fits."""
        cap = delivery.inline_cap(job, self.inline_max_bytes)
        if job.status != "completed" or self.read_video is None or cap <= 0:
            self.sender.post(channel_id, ping, tag=f"ping:{job.id}")
            return
        task = asyncio.get_running_loop().create_task(self._ping_with_video(job, channel_id,
                                                                            ping, cap))
        self._deliveries.add(task)
        task.add_done_callback(self._deliveries.discard)

    async def _ping_with_video(self, job: JobRead, channel_id: str, ping: dict,
                               cap: int) -> None:
        video = await self.read_video(job, cap)
        if video is None:  # larger than the limit, or unreadable: the link is there
            self.sender.post(channel_id, ping, tag=f"ping:{job.id}")
            return
        filename, data, content_type = video

        def link_only() -> None:  # Discord refused the upload (413 / 40005, error, timeout)
            log.info("inline upload of %s refused; the link stays", job.id,
                     extra={"job_id": job.id})
            self.sender.post(channel_id, ping, tag=f"ping-link:{job.id}")

        self.sender.upload(channel_id, delivery.with_video(ping, filename),
                           [(filename, data, content_type)], tag=f"ping:{job.id}",
                           fallback=link_only)

    async def _batch_changed(self, batch_id: str, channel_id: str, message_id: str) -> None:
        """The batch's message from a fresh read of every variant (a later read is never
        behind an earlier one), through the same paced sender, ranked by the batch."""
        batch = await self.load_batch(batch_id)
        done = all(j.is_final for j in batch.jobs)
        ping = batch_messages.ping_payload(batch, message_id) if done else None
        then = None
        if ping is not None:
            def then(ping=ping):
                self.sender.post(channel_id, ping, tag=f"ping:{batch_id}")
        self.sender.edit(channel_id, message_id, batch_messages.status_payload(batch),
                         rank=progress.batch_rank(batch.jobs), terminal=done, then=then)

    async def close(self, within: float = 10.0) -> None:
        if self._deliveries:
            await asyncio.wait(set(self._deliveries), timeout=within)
        await self.sender.flush(within)
        await self.sender.close()


def install(runtime) -> DiscordNotifier | None:
    """Add the Discord notifier to a runtime's notifiers (once) when a token is set."""
    if not runtime.settings.discord_token:
        return None
    for adapter in runtime.notifiers.adapters:
        if isinstance(adapter, DiscordNotifier):
            return adapter
    notifier = DiscordNotifier.from_settings(runtime.settings)
    notifier.load_batch = catch_up.batch_loader(runtime)
    notifier.read_video = delivery.video_reader(runtime)
    runtime.notifiers.add(notifier)
    log.info("discord status edits enabled (%s)", notifier.sender.api_base)
    return notifier

