"""Worker processes for ``benchmarks/chat_progress.py --workers N``.

Each process builds the platform's notifier the way ``renderbot worker`` does
(``<platform>.notifier.from_settings`` from ``RENDERBOT_*`` settings, broker on Redis, so
the senders share their state there) and is told job changes by the benchmark, which
sends each change to a worker picked at random — as the polls of one job land on
whichever worker takes them. Every successful call is reported back with the state it
showed and when (``time.monotonic`` is the machine's, so the lag accounting stays in the
benchmark process).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import queue
import random
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

STOP = None


def _serve(platform: str, env: dict[str, str], inbox, outbox, shown_name: str) -> None:
    os.environ.update(env)
    asyncio.run(_worker(platform, inbox, outbox, shown_name))


async def _worker(platform: str, inbox, outbox, shown_name: str) -> None:
    import chat_progress  # noqa: F401 - the benchmark module (sys.path: its directory)

    from core.schemas import JobRead
    from core.settings import Settings

    settings = Settings()
    if platform == "discord":
        from bots.discord.notifier import DiscordNotifier

        notifier = DiscordNotifier.from_settings(settings)
    else:
        from bots.slack.notifier import SlackNotifier

        notifier = SlackNotifier.from_settings(settings)
    shown = getattr(chat_progress, shown_name)
    text_field = "content" if platform == "discord" else "text"

    def on_sent(key, payload, at):
        kind = key[0]
        if kind in ("edit", "update"):
            outbox.put(("shown", str(key[-1]), shown(payload[text_field]), at))
        else:
            outbox.put(("posted", str(key[-1]), None, at))

    notifier.sender.on_sent = on_sent
    outbox.put(("ready", None, None, 0.0))
    loop = asyncio.get_running_loop()
    handoffs: list[float] = []
    while True:
        item = await loop.run_in_executor(None, inbox.get)
        if item is STOP:
            break
        data, change, told_at = item
        handoffs.append(time.monotonic() - told_at)
        await notifier.job_changed(JobRead.model_validate_json(data), change)
    drained = await notifier.sender.flush(600)
    stats = vars(notifier.sender.stats)  # older senders lack some counters: 0
    outbox.put(("stats", None, {name: stats.get(name, 0) for name in (
        "sent", "rate_limited", "coalesced", "dropped", "dropped_final", "superseded",
        "waited")} | {"drained": drained, "handoffs": handoffs}, 0.0))
    await notifier.sender.close()


class WorkerPool:
    """``count`` worker processes; :meth:`notify` hands a change to one of them."""

    def __init__(self, platform: str, count: int, env: dict[str, str], *, shown: str,
                 on_report: Callable[[str, str, Any, float], None], seed: int = 7) -> None:
        context = multiprocessing.get_context("spawn")
        self.outbox = context.Queue()
        self.inboxes = [context.Queue() for _ in range(count)]
        self.procs = [context.Process(target=_serve, args=(platform, env, inbox, self.outbox,
                                                            shown), daemon=True)
                      for inbox in self.inboxes]
        self.on_report = on_report
        self.rng = random.Random(seed)
        self.stats: list[dict] = []
        self._reader = threading.Thread(target=self._read, daemon=True)

    def start(self) -> WorkerPool:
        for proc in self.procs:
            proc.start()
        for _ in self.procs:  # imported and built: changes are handled at once from here
            kind, *_ = self.outbox.get(timeout=120)
            assert kind == "ready", kind
        self._reader.start()
        return self

    def _read(self) -> None:
        while len(self.stats) < len(self.procs):
            try:
                kind, key, value, at = self.outbox.get(timeout=1)
            except queue.Empty:
                if not any(p.is_alive() for p in self.procs):
                    return
                continue
            if kind == "stats":
                self.stats.append(value)
            else:
                self.on_report(kind, key, value, at)

    async def notify(self, job, change: str) -> None:
        self.rng.choice(self.inboxes).put((job.model_dump_json(), change, time.monotonic()))

    async def finish(self, within: float = 900) -> list[dict]:
        for inbox in self.inboxes:
            inbox.put(STOP)
        await asyncio.to_thread(self._reader.join, within)
        for proc in self.procs:
            await asyncio.to_thread(proc.join, 10)
        return self.stats


class Pool:
    """The changes' way to the senders: in this process (one notifier), or ``--workers``
    processes sharing Redis."""

    def __init__(self, args, platform: str, env: dict[str, str], shown: str, on_report) -> None:
        self.redis = None
        self.workers = None
        self.url: str | None = None  # the workers' Redis
        if args.workers > 1:
            url = args.redis
            if url is None:
                from tests.fixtures.private_redis import PrivateRedis

                self.redis = PrivateRedis(Path(tempfile.mkdtemp(prefix="chat-bench-")))
                self.redis.start()
                url = self.redis.url
            self.url = url
            env = {"RENDERBOT_BROKER_URL": url,
                   "RENDERBOT_SECRET_KEY": "benchmark-secret-0123456789", **env}
            self.workers = WorkerPool(platform, args.workers, env, shown=shown,
                                      on_report=on_report, seed=args.seed).start()

    async def finish(self, sender=None) -> dict:
        """Drain and stop; the senders' summed stats."""
        if self.workers is None:
            drained = await sender.flush(900)
            await asyncio.sleep(0.5)  # the completion pings
            await sender.close()
            stats = [vars(sender.stats) | {"drained": drained}]
        else:
            stats = await self.workers.finish()
            if self.redis is not None:
                self.redis.kill()
        total = {k: sum(s[k] for s in stats) for k in
                 ("sent", "rate_limited", "coalesced", "dropped", "dropped_final", "superseded",
                  "waited") if all(k in st for st in stats)}
        handoffs = sorted(h for st in stats for h in st.get("handoffs", []))
        total["handoff_p95_s"] = round(handoffs[int(len(handoffs) * 0.95)], 3) if handoffs else 0.0
        total["drained"] = len(stats) == max(1, len(self.workers.procs) if self.workers else 1) \
            and all(s["drained"] for s in stats)
        return total
