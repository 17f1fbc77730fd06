"""Slack's half of ``benchmarks/chat_progress.py`` (see its docstring): every job in one
workspace, through ``bots.slack.notifier.SlackNotifier`` to the fake Slack."""

from __future__ import annotations

import asyncio
import random
import re
import time

from chat_sim import Recorder, percentile, simulate
from chat_workers import Pool

from core.schemas import JobRead


def slack_shown_state(text: str) -> tuple:
    """The state a Slack status message shows (its fallback ``text``), as :func:`rank`."""
    head = text.split("\n", 1)[0]
    if any(word in head for word in ("Done", "Failed", "Cancelled")):
        return (2, 100)
    if "Queued" in head:
        return (0, 0)
    found = re.search(r" (\d+)%", text)
    return (1, int(found[1]) if found else 0)


def busiest_minute(times: list[float]) -> int:
    """Most calls in any sliding 60 s window."""
    times, best, start = sorted(times), 0, 0
    for end, at in enumerate(times):
        while times[start] <= at - 60:
            start += 1
        best = max(best, end - start + 1)
    return best


async def run_slack(args) -> dict:
    """All jobs in ONE workspace: Slack's chat.update limit (Tier 3, ~50 a minute) is per
    workspace, so the fake enforces ``--tier-limit`` calls a minute per workspace and
    answers over it with 429 + Retry-After; the sender budgets ``--per-team-per-minute``."""
    from tests.fixtures.fake_slack import BOT_TOKEN, SIGNING_SECRET, TEAM, FakeSlack

    fake = FakeSlack().start()
    fake.limit("chat.update", args.tier_limit)
    fake.limit_per_channel("chat.postMessage", 1, 1.0)  # about one a second per channel
    recorder = Recorder()
    job_of_message: dict[str, str] = {}
    pinged: dict[str, float] = {}
    finished_at: dict[str, float] = {}

    def on_report(kind, key, state, at):
        if kind == "shown" and key in job_of_message:
            recorder.delivered(job_of_message[key], tuple(state), at)
        elif kind == "posted":
            pinged[key.removeprefix("ping:")] = at

    pool = Pool(args, "slack", {
        "RENDERBOT_SLACK_BOT_TOKEN": BOT_TOKEN, "RENDERBOT_SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "RENDERBOT_SLACK__API_BASE": fake.api_base,
        "RENDERBOT_SLACK__UPDATE_INTERVAL": str(args.update_interval),
        "RENDERBOT_SLACK__PER_TEAM_UPDATES_PER_MINUTE": str(args.per_team_per_minute)},
        "slack_shown_state", on_report)
    sender = None
    if pool.workers is None:
        from bots.slack.notifier import SlackNotifier
        from bots.slack.sender import SlackSender

        async def token_for(team_id: str) -> str:
            return BOT_TOKEN

        sender = SlackSender(token_for=token_for, api_base=fake.api_base,
                             update_interval=args.update_interval,
                             per_team_updates_per_minute=args.per_team_per_minute)
        notifier = SlackNotifier(sender)

        def on_sent(key, body, at):
            if key[0] == "update":
                on_report("shown", key[3], slack_shown_state(body["text"]), at)
            else:
                on_report("posted", key[3], None, at)

        sender.on_sent = on_sent

    async def notify(job: JobRead, change: str) -> None:
        recorder.tell(job)
        if change == "completed":
            finished_at[job.id] = time.monotonic()
        if pool.workers is not None:
            await pool.workers.notify(job, change)
        else:
            await notifier.job_changed(job, change)

    rng = random.Random(args.seed)
    origins = []
    for i in range(args.jobs):
        channel = f"C{10_000 + i % args.channels}"
        ts = fake.post_message(channel, "posting…")
        job_of_message[ts] = f"job_bench{i:05d}"
        origins.append({"platform": "slack", "team_id": TEAM, "channel_id": channel,
                        "message_ts": ts, "user_id": f"U{500 + i}", "title": f"Project {i}"})
    started = time.monotonic()
    await asyncio.gather(*(simulate(i, origins[i], notify, rng, args)
                           for i in range(args.jobs)))
    rendered = time.monotonic() - started
    stats = await pool.finish(sender)
    drain_time = time.monotonic() - started - rendered
    every, final, missing = recorder.lags()
    ping_lags = [pinged[j] - t for j, t in finished_at.items() if j in pinged]
    broadcast = {job_of_message.get(c.params.get("thread_ts"))  # the jobs whose reply was
                 for c in fake.calls_to("chat.postMessage")  # also sent to the channel
                 if c.params.get("thread_ts") and c.params.get("reply_broadcast")} - {None}
    seen = []  # per job: the first call that showed the final state to the channel
    for job_id, done_at in finished_at.items():
        shown = [t for t, state in recorder.shown.get(job_id, []) if t >= done_at
                 and state >= (2, 100)]
        if job_id in pinged and job_id in broadcast:
            shown.append(pinged[job_id])
        if shown:
            seen.append(min(shown) - done_at)
    updates = [c.at for c in fake.calls_to("chat.update", status=None)]
    result = {
        "platform": "slack", "jobs": args.jobs, "workspaces": 1, "channels": args.channels,
        "workers": args.workers, "submit_over_s": args.submit_over,
        "update_interval_s": args.update_interval,
        "budget_per_minute": args.per_team_per_minute, "tier_limit_per_minute": args.tier_limit,
        "changes": len(every) + missing, "updates_sent": len(updates),
        "coalesced": stats["coalesced"], "superseded": stats.get("superseded"),
        "waited": stats.get("waited"), "handoff_p95_s": stats["handoff_p95_s"],
        "calls_busiest_minute": busiest_minute(updates),
        "lag_p50_s": round(percentile(every, 50), 2), "lag_p95_s": round(percentile(every, 95), 2),
        "lag_max_s": round(max(every), 2) if every else None,
        "final_lag_p50_s": round(percentile(final, 50), 2),
        "final_lag_p95_s": round(percentile(final, 95), 2),
        "final_lag_max_s": round(max(final), 2) if final else None,
        "final_seen_p50_s": round(percentile(seen, 50), 2),
        "final_seen_p95_s": round(percentile(seen, 95), 2),
        "final_seen_max_s": round(max(seen), 2) if seen else None,
        "ping_lag_p95_s": round(percentile(ping_lags, 95), 2),
        "pings_broadcast": len(broadcast),
        "finals_delivered": f"{len(final)}/{args.jobs}", "pings": f"{len(ping_lags)}/{args.jobs}",
        "never_shown": missing, "rate_limited_429s": fake.over_limit,
        "inside_retry_after": len(getattr(fake, "inside_retry_after", [])),
        "sender_429s": stats["rate_limited"], "dropped": stats["dropped"],
        "dropped_finals": stats["dropped_final"],
        "wall_s": round(rendered + drain_time, 1), "drained": stats["drained"],
    }
    fake.stop()
    return result
