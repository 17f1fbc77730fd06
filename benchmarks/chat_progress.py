"""Chat progress delivery under load: how late do status messages show a job's state?

    .venv/bin/python benchmarks/chat_progress.py discord [--jobs 100] [--channels 100]
        [--min-seconds 20] [--max-seconds 40] [--tick 1.0] [--edit-interval 1.5]
        [--global-rate 40] [--status-via followup|channel] [--no-baseline] [--json]

N jobs are submitted at once and render in parallel (as on Remotion Lambda): each is
queued, starts within a few seconds, reports progress every ``--tick`` seconds (the
worker's poll interval) for 20–40 s, then completes. Every change goes through the real
notifier adapter (``bots.discord.notifier.DiscordNotifier`` and its paced
``StatusSender``) to the fake Discord over real HTTP. The fake enforces Discord's limits
(5 message edits per 5 s per channel, 50 requests per second globally) and answers over
them with 429 — so any 429 counted here is caused by our own pacing; none are injected.

Lag of a change = time from the notifier being told to the first successful edit that
shows that state or a newer one (coalescing may skip intermediate states, which is the
point). Reported: p50 / p95 / max over all changes, p95 for the final states, edits sent,
changes coalesced, 429s.

Discord's status message is what the bot posts: the Confirm interaction's public follow-up
(``--status-via followup``, the default), its token kept where the senders read it
(``bots.discord.interaction_tokens``, in Redis with ``--workers``), so edits go through
the interaction webhook, outside the bot's 50/s global limit (the fake gives that route
its own bucket, 5 per 5 s per token, with headers). The same run then measures the
baseline, the bot-token channel route for every edit (``--status-via channel``; skip it
with ``--no-baseline``), and prints the ratio of the two lag p95s.

Platform-neutral pieces (the job simulation and the lag accounting, ``chat_sim.py``) are
shared; each chat platform adds a ``run_<platform>`` (Slack's in ``chat_progress_slack.py``)
and an entry in ``PLATFORMS``.

``--workers N`` (N ≥ 2): the changes go to N worker processes (``benchmarks/chat_workers.py``),
each change to one picked at random, as polls land on any worker; each builds its
notifier from settings as ``renderbot worker`` does, with the broker on Redis (``--redis
URL``, else a private ``redis-server`` on a free port), so the senders share versions and
budgets there. Also reported: calls any client sent inside a 429's retry window
(``inside_retry_after``): with ``rate_limited_429s`` these are the rate-limit violations.

    .venv/bin/python benchmarks/chat_progress.py slack [--jobs 100] [--channels 100]
        [--update-interval 2] [--per-team-per-minute 45] [--tier-limit 50] [--json]

Slack: every job in one workspace, through ``bots.slack.notifier.SlackNotifier`` and its
budgeted ``SlackSender`` to the fake Slack, which allows ``--tier-limit`` chat.update calls
a minute per workspace (Tier 3) and answers over it with 429. Also reported: chat.update
calls in the busiest minute vs the limit, and how soon the completion ping (thread reply
with the link, its own per-channel limit) follows a job's completion.

Slack's finals, two figures with two definitions:

* ``final_lag_*``: until the status message ITSELF shows the final state (its chat.update).
  chat.update is Tier 3 (about 50 a minute per workspace, shared by every job there), so
  100 jobs ending within ~20 s cannot all be updated within 2 s: even if every call went
  to finals, the 95th waits about 95 / (budget per second) minus the spread of the ends.
* ``final_seen_*``: until the CHANNEL first shows the final state: the earlier of that
  update and the completion reply, which is posted with ``reply_broadcast`` (Slack's
  "also send to channel": the reply appears in the channel, not only in the thread) and
  carries the state, the mention and the link. chat.postMessage has its own limit (about
  one a second per channel), which the fake enforces here too; a reply counts only if it
  was broadcast (``pings_broadcast``).

``--submit-over S`` spreads the submits over S seconds (jobs a minute = jobs × 60 / S):
the load at which the status message's own final p95 stays within 2 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from chat_progress_slack import busiest_minute, run_slack, slack_shown_state  # noqa: E402, F401
from chat_sim import Recorder, percentile, simulate  # noqa: E402
from chat_workers import Pool  # noqa: E402

from core.schemas import JobRead  # noqa: E402

# --- Discord --------------------------------------------------------------------------------


def shown_state(content: str) -> tuple:
    """The state a Discord status message shows (its rank, as :func:`rank` orders them)."""
    if any(word in content for word in ("**Done**", "**Failed**", "**Cancelled**")):
        return (2, 100)
    if "**Queued**" in content:
        return (0, 0)
    found = re.search(r"` (\d+)%", content)
    return (1, int(found[1]) if found else 0)


class ThreadedFake:
    """The fake Discord on its own event loop thread, like a remote server."""

    def __init__(self) -> None:
        from tests.fixtures.fake_discord import FakeDiscord

        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.fake = asyncio.run_coroutine_threadsafe(self._start(FakeDiscord), self.loop).result()

    async def _start(self, cls):
        return await cls().start()

    def call(self, fn, *args):
        async def run():
            return fn(*args)

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result()

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.fake.stop(), self.loop).result()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


async def run_discord(args) -> dict:
    """The status messages as ``--status-via`` says; then (unless ``--no-baseline``) the
    bot-token channel route for every edit, measured the same way, and the ratio."""
    result = await run_discord_once(args, args.status_via)
    if args.baseline and args.status_via != "channel":
        base = await run_discord_once(args, "channel")
        result["baseline_channel_route"] = {k: base[k] for k in (
            "lag_p50_s", "lag_p95_s", "final_lag_p95_s", "rate_limited_429s",
            "inside_retry_after", "never_shown")}
        result["lag_p95_channel_over_this"] = round(base["lag_p95_s"] / result["lag_p95_s"], 2) \
            if result["lag_p95_s"] else None
        for key in ("rate_limited_429s", "inside_retry_after", "never_shown"):
            result[key] += base[key]  # the exit status covers both
    return result


async def run_discord_once(args, via: str) -> dict:
    from bots import shared_state
    from bots.discord import interaction_tokens

    server = ThreadedFake()
    fake = server.fake
    recorder = Recorder()
    job_of_message: dict[str, str] = {}

    def on_report(kind, key, state, at):
        if kind == "shown" and key in job_of_message:
            recorder.delivered(job_of_message[key], tuple(state), at)

    pool = Pool(args, "discord", {
        "RENDERBOT_DISCORD_TOKEN": fake.token, "RENDERBOT_DISCORD__API_BASE": fake.api_base,
        "RENDERBOT_DISCORD__EDIT_INTERVAL": str(args.edit_interval),
        "RENDERBOT_DISCORD__GLOBAL_RATE": str(args.global_rate)}, "shown_state", on_report)
    sender = None
    if pool.workers is None:
        from bots.discord.notifier import DiscordNotifier
        from bots.discord.sender import StatusSender

        sender = StatusSender(token=fake.token, api_base=fake.api_base,
                              edit_interval=args.edit_interval, global_rate=args.global_rate,
                              shared=shared_state.SharedState("bench:"))
        notifier = DiscordNotifier(sender)
        sender.on_sent = lambda key, payload, at: key[0] == "edit" and on_report(
            "shown", key[2], shown_state(payload["content"]), at)

    async def notify(job: JobRead, change: str) -> None:
        recorder.tell(job)
        if pool.workers is not None:
            await pool.workers.notify(job, change)
        else:
            await notifier.job_changed(job, change)

    rng = random.Random(args.seed)
    origins = []
    # where the bot keeps the interaction tokens: the workers' Redis, or the sender's memory
    shared = shared_state.for_broker(pool.url, "discord", f"{fake.token}@{fake.api_base}") \
        if pool.url else sender.shared
    for i in range(args.jobs):
        channel = str(10_000 + i % args.channels)
        if via == "followup":  # as the bot posts it (bots.discord.bot.RenderBot.post_status)
            token, message = server.call(fake.add_followup, channel, "posting…")
            await interaction_tokens.remember(shared, message["id"], app_id=fake.app_id,
                                              token=token)
        else:
            message = server.call(fake.add_message, channel, "posting…")
        job_of_message[message["id"]] = f"job_bench{i:05d}"
        origins.append({"platform": "discord", "channel_id": channel,
                        "message_id": message["id"], "user_id": str(500 + i),
                        "title": f"Project {i}"})
    started = time.monotonic()
    await asyncio.gather(*(simulate(i, origins[i], notify, rng, args)
                           for i in range(args.jobs)))
    rendered = time.monotonic() - started
    stats = await pool.finish(sender)
    drain_time = time.monotonic() - started - rendered
    every, final, missing = recorder.lags()
    edits = len(server.call(fake.calls_to, "PATCH", r"/channels/\d+/messages/\d+"))
    webhook_edits = len(server.call(fake.calls_to, "PATCH",
                                    r"/webhooks/\d+/[^/]+/messages/\d+"))
    result = {
        "platform": "discord", "status_via": via, "jobs": args.jobs, "channels": args.channels,
        "workers": args.workers, "submit_over_s": args.submit_over,
        "edit_interval_s": args.edit_interval, "global_rate": args.global_rate,
        "changes": len(every) + missing, "edits_sent": edits + webhook_edits,
        "edits_via_webhook": webhook_edits, "edits_via_channel": edits,
        "coalesced": stats["coalesced"], "superseded": stats.get("superseded"),
        "waited": stats.get("waited"), "handoff_p95_s": stats["handoff_p95_s"],
        "lag_p50_s": round(percentile(every, 50), 2), "lag_p95_s": round(percentile(every, 95), 2),
        "lag_max_s": round(max(every), 2) if every else None,
        "final_lag_p95_s": round(percentile(final, 95), 2),
        "final_lag_max_s": round(max(final), 2) if final else None,
        "finals_delivered": f"{len(final)}/{args.jobs}", "never_shown": missing,
        "rate_limited_429s": fake.limit_429s, "injected_429s": fake.injected_429s,
        "inside_retry_after": len(getattr(fake, "inside_retry_after", [])),
        "sender_429s": stats["rate_limited"], "dropped": stats["dropped"],
        "wall_s": round(rendered + drain_time, 1), "drained": stats["drained"],
    }
    server.stop()
    return result


PLATFORMS = {"discord": run_discord, "slack": run_slack}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("platform", choices=sorted(PLATFORMS))
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--channels", type=int, default=100,
                        help="jobs are spread over this many channels (1 = all in one)")
    parser.add_argument("--min-seconds", type=float, default=20)
    parser.add_argument("--max-seconds", type=float, default=40)
    parser.add_argument("--tick", type=float, default=1.0, help="progress reports per job, s")
    parser.add_argument("--edit-interval", type=float, default=1.5)
    parser.add_argument("--global-rate", type=float, default=40)
    parser.add_argument("--status-via", choices=("followup", "channel"), default="followup",
                        help="discord: the status message is the Confirm's follow-up (edited "
                             "through the interaction webhook) or a bot-token channel post")
    parser.add_argument("--no-baseline", dest="baseline", action="store_false",
                        help="discord: skip the channel-route baseline run")
    parser.add_argument("--update-interval", type=float, default=2.0, help="slack: per message")
    parser.add_argument("--per-team-per-minute", type=float, default=45.0,
                        help="slack: chat.update budget per workspace")
    parser.add_argument("--tier-limit", type=int, default=50,
                        help="slack: chat.update calls a minute the fake allows per workspace")
    parser.add_argument("--workers", type=int, default=1,
                        help="worker processes sharing Redis (1: the notifier in this process)")
    parser.add_argument("--redis", default=None,
                        help="with --workers: Redis URL (default: a private redis-server)")
    parser.add_argument("--submit-over", type=float, default=0.5,
                        help="the jobs are submitted at random over this many seconds")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = asyncio.run(PLATFORMS[args.platform](args))
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        width = max(len(k) for k in result)
        for key, value in result.items():
            print(f"{key:<{width}}  {value}")
    ok = result["rate_limited_429s"] == 0 and result["never_shown"] == 0 \
        and result["inside_retry_after"] == 0
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
