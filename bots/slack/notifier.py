"""The Slack notifier adapter: job changes → ``chat.update`` of the job's status message.

Installed into a worker's runtime by ``jobs.worker.RenderWorker.start`` when a bot token
(or OAuth installs) is configured. It updates with the bot token through
:class:`~bots.slack.sender.SlackSender` (throttled per message, budgeted per workspace),
so it works wherever the worker runs and long after the interaction's ``response_url``
expired. The app posts the status message and stores its ``ts`` in ``job.origin``; until
then there is nothing to update and changes are skipped (the app catches up right after
posting).
"""

from __future__ import annotations

import logging

from bots import catch_up, progress, shared_state
from bots.slack import batch_blocks, blocks, delivery, workspaces
from bots.slack.sender import SlackSender
from core.notify import JobChange
from core.notify import state_rank as rank
from core.schemas import JobRead
from core.settings import Settings

log = logging.getLogger("renderbot.slack.notifier")


def target(job: JobRead) -> tuple[str, str, str] | None:
    """(team id, channel id, message ts) of the job's Slack status message, if it has one."""
    origin = job.origin or {}
    if origin.get("platform") != "slack":
        return None
    team_id, channel_id, ts = origin.get("team_id"), origin.get("channel_id"), origin.get("message_ts")
    if not team_id or not channel_id or not ts:
        return None
    return str(team_id), str(channel_id), str(ts)


class SlackNotifier:
    def __init__(self, sender: SlackSender, *, load_batch=None, load_video=None,
                 inline_cap: int = 0) -> None:
        self.sender = sender
        # async batch id -> BatchRead (the runtime's database): a batch has ONE message
        self.load_batch = load_batch
        # job -> async loader of its video (None past the cap): inline delivery
        self.load_video = load_video
        self.inline_cap = inline_cap

    @classmethod
    def from_settings(cls, settings: Settings, *, engine_of=None) -> SlackNotifier:
        if not workspaces.enabled(settings):
            raise ValueError("neither RENDERBOT_SLACK_BOT_TOKEN nor OAuth client id/secret is set")
        s = settings.slack
        return cls(SlackSender(
            token_for=workspaces.BotTokens(settings, engine_of or _no_engine),
            api_base=workspaces.api_base(settings), update_interval=s.update_interval,
            per_team_updates_per_minute=s.per_team_updates_per_minute,
            shared=shared_state.for_broker(
                settings.broker_url, "slack",
                f"{_app_identity(settings)}@{workspaces.api_base(settings)}"),
        ))

    async def job_changed(self, job: JobRead, change: JobChange) -> None:
        where = target(job)
        if where is None:
            return
        team_id, channel_id, ts = where
        batch_id = (job.origin or {}).get("batch_id")
        if batch_id and self.load_batch is not None:
            await self._batch_changed(str(batch_id), team_id, channel_id, ts)
            return
        self.sender.update(team_id, channel_id, ts, blocks.status_message(job), rank=rank(job),
                           terminal=job.is_final)
        # by the job's state: a catch-up of an ended job pings too (once per job)
        ping = blocks.ping_text(job) if job.status in ("completed", "failed") else None
        if ping is not None:
            # at once, not after the update: chat.postMessage has its own limit (about one
            # a second per channel), so the mention and the link don't wait for
            # chat.update's budget (Tier 3, per workspace); broadcast ("also send to the
            # channel"), so the channel sees the final state even while the status message
            # waits for that budget
            message = {"text": ping, "thread_ts": ts, "reply_broadcast": True}
            if job.status == "completed" and self.load_video is not None and self.inline_cap:
                # the video itself in the thread (it plays in Slack), the ping as its
                # comment; too large or a failed upload: the same ping with the link
                self.sender.upload(team_id, channel_id, ts, tag=f"ping:{job.id}",
                                   load=self.load_video(job), filename=delivery.filename(job),
                                   title=(job.origin or {}).get("title") or "render",
                                   comment=ping, fallback=message)
            else:
                self.sender.post(team_id, channel_id, message, tag=f"ping:{job.id}")

    async def _batch_changed(self, batch_id: str, team_id: str, channel_id: str, ts: str) -> None:
        """The batch's message from a fresh read of every variant (a later read is never
        behind an earlier one), through the same paced sender, ranked by the batch."""
        batch = await self.load_batch(batch_id)
        done = all(j.is_final for j in batch.jobs)
        self.sender.update(team_id, channel_id, ts, batch_blocks.batch_status_message(batch),
                           rank=progress.batch_rank(batch.jobs), terminal=done)
        if done and any(j.status == "completed" for j in batch.jobs):
            links = [f"<{j.result_url}|{j.settings.resolution[0]}×{j.settings.resolution[1]}>"
                     for j in batch.jobs if j.status == "completed" and j.result_url]
            user_id = (batch.jobs[0].origin or {}).get("user_id")
            who = f"{blocks.mention(user_id)} " if user_id else ""
            self.sender.post(team_id, channel_id,
                             {"text": f"{who}your batch is ready: " + ", ".join(links),
                              "thread_ts": ts}, tag=f"ping:{batch_id}")

    async def close(self, within: float = 10.0) -> None:
        await self.sender.flush(within)
        await self.sender.close()


def _app_identity(settings: Settings) -> str:
    """What the shared state is keyed by: the bot token, or the OAuth app (installs
    across workspaces; the budgets inside are per workspace anyway)."""
    if settings.slack_bot_token is not None:
        return settings.slack_bot_token.get_secret_value()
    return f"oauth:{settings.slack.client_id}"


def _no_engine():
    raise RuntimeError("multi-workspace Slack needs the runtime's database")


def install(runtime) -> SlackNotifier | None:
    """Add the Slack notifier to a runtime's notifiers (once) when Slack is configured."""
    if not workspaces.enabled(runtime.settings):
        return None
    for adapter in runtime.notifiers.adapters:
        if isinstance(adapter, SlackNotifier):
            return adapter
    notifier = SlackNotifier.from_settings(runtime.settings, engine_of=lambda: runtime.db.engine)
    notifier.load_batch = catch_up.batch_loader(runtime)
    notifier.inline_cap = delivery.inline_cap(runtime.settings)
    notifier.load_video = delivery.video_loader(runtime, notifier.inline_cap)
    runtime.notifiers.add(notifier)
    log.info("slack status updates enabled (%s)", notifier.sender.api_base)
    return notifier

