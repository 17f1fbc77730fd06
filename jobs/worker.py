"""Run Dramatiq workers inside our own process (``renderbot worker``, ``demo``, ``serve``).

The worker runs the actors on Dramatiq's AsyncIO event-loop thread, with the process's
:class:`~core.runtime.Runtime`, and a reconciler timer that enqueues ``reconcile`` right
away and then every ``worker.reconcile_interval`` seconds.

``renderbot worker`` also watches Dramatiq's threads: a consumer or worker thread that
dies takes a queue (or a share of the work) with it while the process looks alive, so the
process logs which thread died and exits with status 1 for its supervisor (compose's
``restart: unless-stopped``) to start a fresh one; the reconciler recovers its jobs.
"""

from __future__ import annotations

import logging
import signal
import threading

from dramatiq import Worker
from dramatiq.asyncio import get_event_loop_thread
from dramatiq.brokers.stub import StubBroker

from core.backends.base import HostBound
from core.runtime import Runtime
from jobs import runtime as job_runtime
from jobs.broker import setup_broker
from jobs.enqueue import host_queue

log = logging.getLogger("renderbot.worker")
WATCHDOG_INTERVAL = 1.0  # seconds between checks of Dramatiq's threads
POLL_LATENCY_MS = 200


class RenderWorker:
    def __init__(self, rt: Runtime, *, threads: int = 4) -> None:
        self.rt = rt
        self.threads = threads
        self._stop = threading.Event()
        self._worker: Worker | None = None
        self._timer: threading.Thread | None = None

    def start(self) -> RenderWorker:
        broker = setup_broker(self.rt.settings)
        job_runtime.configure(self.rt)
        if self.rt.settings.discord_token:  # status-message edits go out from the worker
            from bots.discord.notifier import install as install_discord_notifier

            install_discord_notifier(self.rt)
        if self.rt.settings.slack_bot_token or self.rt.settings.slack.client_id:
            from bots.slack.notifier import install as install_slack_notifier

            install_slack_notifier(self.rt)  # chat.update of Slack status messages
        from jobs import actors, callbacks, stills

        stills.render_preview  # noqa: B018 - declares the "previews" queue (preview stills)

        callbacks.install(self.rt)  # webhook callers' callbacks: notifier + actor
        from jobs import fair_wake

        fair_wake.install(self.rt)  # fair use: a freed slot starts the next waiting job
        if isinstance(self.rt.backend, HostBound):
            # this process's poll queue: the polls of the renders its render server has
            broker.declare_queue(host_queue(self.rt.backend.host))
        # worker_timeout: an idle Redis consumer looks again within this many ms (Dramatiq's
        # default, 1000, is per hop: a poll goes through its delay queue, then this
        # worker's own queue, which nothing else keeps warm)
        self._worker = Worker(broker, worker_threads=self.threads, worker_timeout=POLL_LATENCY_MS)
        self._worker.start()
        self._timer = threading.Thread(
            target=self._reconcile_loop, args=(actors.reconcile,), name="reconciler", daemon=True
        )
        self._timer.start()
        # retention of the default storage (issue 16): a sweep now and every interval
        self._sweeper = threading.Thread(target=self._sweep_loop, name="retention", daemon=True)
        self._sweeper.start()
        log.info("worker started (%s broker, %s backend)", self.rt.settings.broker_url.split(":")[0],
                 self.rt.settings.render_backend)
        return self

    def _reconcile_loop(self, reconcile) -> None:
        interval = self.rt.settings.worker.reconcile_interval
        while True:
            try:
                reconcile.send()
            except Exception:  # noqa: BLE001 - the broker may be briefly unreachable
                log.warning("could not enqueue the reconciler", exc_info=True)
            if self._stop.wait(interval):
                return

    def _sweep_loop(self) -> None:
        from core import retention

        interval = self.rt.settings.storage.sweep_interval
        if self.rt.settings.storage.retention_days <= 0:
            return
        while not self._stop.is_set():
            loop_thread = get_event_loop_thread()
            try:
                if loop_thread is not None:
                    loop_thread.run_coroutine(retention.sweep(self.rt))
            except Exception:  # noqa: BLE001 - the next sweep tries again
                log.warning("the retention sweep failed", exc_info=True)
            if self._stop.wait(interval):
                return

    def dead_threads(self) -> list[str]:
        """Dramatiq threads of the running worker that died (raised out of their loop)."""
        if self._worker is None or self._stop.is_set():
            return []
        return dead_threads(self._worker)

    def stop(self) -> None:
        self._stop.set()
        if self._worker is None:
            return
        loop_thread = get_event_loop_thread()
        if loop_thread is not None:
            try:
                loop_thread.run_coroutine(self.rt.close())
            except Exception:  # noqa: BLE001
                log.warning("closing the runtime failed", exc_info=True)
        self._worker.stop()
        _forget(self._worker.broker, self._worker)
        self._worker = None
        broker = setup_broker(self.rt.settings)
        if isinstance(broker, StubBroker):
            broker.flush_all()  # in-process: messages die with the worker, as jobs don't

    def __enter__(self) -> RenderWorker:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _forget(broker, worker: Worker) -> None:
    """Unhook a stopped Dramatiq worker from the broker. Dramatiq leaves its middleware
    registered: a queue declared later (the next in-process worker's own poll queue)
    would get a consumer in the stopped worker too, whose messages nobody runs."""
    broker.middleware[:] = [m for m in broker.middleware
                            if getattr(m, "worker", None) is not worker]


def dead_threads(worker: Worker) -> list[str]:
    """The consumer and worker threads of a started Dramatiq worker that are not alive."""
    dead = [f"consumer of {name}" for name, thread in worker.consumers.items()
            if not thread.is_alive()]
    return dead + [thread.name for thread in worker.workers if not thread.is_alive()]


def run_forever(rt: Runtime, *, threads: int = 4) -> int:
    """Block until SIGINT/SIGTERM (0) or until a Dramatiq thread dies (1); used by
    ``renderbot worker``, which exits with the returned status."""
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    with RenderWorker(rt, threads=threads) as worker:
        while not done.wait(WATCHDOG_INTERVAL):
            if dead := worker.dead_threads():
                log.critical("worker threads died (%s); stopping so that the supervisor "
                             "starts a fresh worker", ", ".join(dead))
                return 1
    return 0
