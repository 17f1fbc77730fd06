"""Prometheus metrics for ``/metrics``.

Each app has its own registry. Job gauges are counted at scrape time; the counters and
histograms are fed by tailing the append-only tables (job events, credit entries,
callback attempts) from where they stood when the app started, so they include what every
worker process did. HTTP request counts and latencies are observed by the app itself.
"""

from __future__ import annotations

import asyncio
import logging

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from core import telemetry
from core.db import Database, utcnow
from core.models import JOB_STATES

log = logging.getLogger("renderbot.api")
BATCH = 5000
MAX_BATCHES = 4  # per table per scrape: the rest is picked up by the next scrape

QUEUE_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
RENDER_BUCKETS = (1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800, 3600)
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = r = CollectorRegistry(auto_describe=True)
        self.jobs = Gauge("renderbot_jobs", "Render jobs by state", ["state"], registry=r)
        self.oldest_queued = Gauge(
            "renderbot_oldest_queued_job_age_seconds", "Age of the oldest queued job", registry=r
        )
        self.jobs_created = Counter(
            "renderbot_jobs_created", "Render jobs created", registry=r
        )
        self.jobs_finished = Counter(
            "renderbot_jobs_finished", "Render jobs that ended, by final state", ["state"],
            registry=r,
        )
        self.queue_latency = Histogram(
            "renderbot_queue_latency_seconds", "Time from queued to the first render attempt",
            buckets=QUEUE_BUCKETS, registry=r,
        )
        self.render_duration = Histogram(
            "renderbot_render_duration_seconds", "Time from start to completion of a render",
            buckets=RENDER_BUCKETS, registry=r,
        )
        self.credits = Counter(
            "renderbot_credits", "Credits moved, by ledger entry kind (absolute amounts)",
            ["kind"], registry=r,
        )
        self.callback_attempts = Counter(
            "renderbot_callback_attempts", "Callback deliveries tried, by outcome",
            ["outcome"], registry=r,
        )
        self.downloads = Counter(
            "renderbot_downloads", "Counted downloads of finished videos", registry=r
        )
        self.http_requests = Counter(
            "renderbot_http_requests", "HTTP requests served", ["method", "route", "status"],
            registry=r,
        )
        self.http_latency = Histogram(
            "renderbot_http_request_duration_seconds", "HTTP request latency",
            ["method", "route"], buckets=HTTP_BUCKETS, registry=r,
        )
        for state in JOB_STATES:
            self.jobs.labels(state)
        for state in ("completed", "failed", "cancelled"):
            self.jobs_finished.labels(state)
        for kind in ("grant", "debit", "refund", "adjustment"):
            self.credits.labels(kind)
        for outcome in ("delivered", "retrying", "failed", "refused"):
            self.callback_attempts.labels(outcome)
        self._cursors: telemetry.Cursors | None = None
        self._lock = asyncio.Lock()

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.http_requests.labels(method, route, str(status)).inc()
        self.http_latency.labels(method, route).observe(seconds)

    async def start(self, db: Database) -> None:
        """Tail from the newest rows (call at start-up; retried at the first scrape)."""
        try:
            async with db.transaction() as session:
                self._cursors = await telemetry.latest(session=session)
        except Exception as exc:  # noqa: BLE001 - the database may come up later
            log.warning("metrics: database not reachable at start-up (%s)", exc.__class__.__name__)

    async def render(self, db: Database) -> bytes:
        async with self._lock:
            if self._cursors is None:
                await self.start(db)
            if self._cursors is not None:
                async with db.transaction() as session:
                    await self._refresh(session)
        return generate_latest(self.registry)

    async def _refresh(self, session) -> None:
        for state, count in (await telemetry.job_counts(session=session)).items():
            self.jobs.labels(state).set(count)
        self.oldest_queued.set(await telemetry.oldest_queued_age(session=session, now=utcnow()))
        cursors = self._cursors
        event_id, entry_id, attempt_id = (
            cursors.job_event, cursors.credit_entry, cursors.callback_attempt,
        )
        for _ in range(MAX_BATCHES):
            rows = await telemetry.job_events_since(session=session, after=event_id, limit=BATCH)
            for row in rows:
                self._observe_event(row)
            if rows:
                event_id = rows[-1].id
            if len(rows) < BATCH:
                break
        for _ in range(MAX_BATCHES):
            entries = await telemetry.credit_entries_since(
                session=session, after=entry_id, limit=BATCH
            )
            for row_id, kind, amount in entries:
                self.credits.labels(kind).inc(abs(amount))
                entry_id = row_id
            if len(entries) < BATCH:
                break
        for _ in range(MAX_BATCHES):
            attempts = await telemetry.callback_attempts_since(
                session=session, after=attempt_id, limit=BATCH
            )
            for row_id, outcome, _event_type in attempts:
                self.callback_attempts.labels(outcome).inc()
                attempt_id = row_id
            if len(attempts) < BATCH:
                break
        self._cursors = telemetry.Cursors(event_id, entry_id, attempt_id)

    def _observe_event(self, row: telemetry.JobEventRow) -> None:
        if row.kind == "download":
            self.downloads.inc()
            return
        if row.state == "queued":
            self.jobs_created.inc()
        elif row.state == "processing":
            self.queue_latency.observe(max(0.0, (row.at - row.queued_at).total_seconds()))
        elif row.state in ("completed", "failed", "cancelled"):
            self.jobs_finished.labels(row.state).inc()
            if row.state == "completed" and row.started_at is not None:
                end = row.finished_at or row.at
                self.render_duration.observe(max(0.0, (end - row.started_at).total_seconds()))
