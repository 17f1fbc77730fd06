"""Thin, idempotent actors: each re-reads the job, runs one pipeline step, enqueues the next."""

from __future__ import annotations

import dramatiq

from core import pipeline
from core.errors import JobNotFound
from jobs import runtime
from jobs.broker import get_broker
from jobs.enqueue import RENDER_QUEUE, host_queue, send

get_broker()  # actors bind to the broker that exists when they are declared
# Retries middleware: only for exceptions the pipeline didn't turn into a step (the
# database unreachable, ...). Render errors are retried by the pipeline per attempt.
RETRY = {"max_retries": 5, "min_backoff": 1_000, "max_backoff": 60_000}


def schedule(step: pipeline.Next) -> None:
    delay_ms = int(step.delay * 1000) or None
    if step.action == "start":
        start_render.send_with_options(args=(step.job_id, step.attempt), delay=delay_ms)
    elif step.action == "poll" and step.host:
        # to the worker whose render server has the render (jobs/worker.py consumes it)
        send(get_broker(), poll_render.actor_name, step.job_id, step.attempt, delay_ms=delay_ms,
             queue_name=host_queue(step.host))
    elif step.action == "poll":
        poll_render.send_with_options(args=(step.job_id, step.attempt), delay=delay_ms)


@dramatiq.actor(queue_name=RENDER_QUEUE, throws=(JobNotFound,),
                on_retry_exhausted="start_gave_up", **RETRY)
async def start_render(job_id: str, after_attempt: int = 0) -> None:
    schedule(await pipeline.start(runtime.current(), job_id, after_attempt))


@dramatiq.actor(queue_name=RENDER_QUEUE, **RETRY)
async def start_gave_up(message: dict, retries: dict) -> None:
    """Dramatiq's Retries middleware spent a start message's retries: count it on the job
    (``pipeline.start_gave_up``), so a job whose start always raises cannot loop forever."""
    trace = (message.get("options") or {}).get("traceback") or ""
    cause = trace.strip().splitlines()[-1] if trace.strip() else "unknown error"
    await pipeline.start_gave_up(runtime.current(), message["args"][0], cause[:300])


@dramatiq.actor(queue_name=RENDER_QUEUE, throws=(JobNotFound,), **RETRY)
async def poll_render(job_id: str, attempt: int) -> None:
    schedule(await pipeline.poll(runtime.current(), job_id, attempt))


@dramatiq.actor(queue_name=RENDER_QUEUE, throws=(JobNotFound,), **RETRY)
async def announce_change(job_id: str, change: str) -> None:
    """A job change made outside the workers (the Remotion webhook, in the API process):
    the worker's notifiers (chat, callbacks) announce it, as if a poll had made it."""
    await pipeline.announce(runtime.current(), job_id, change)


@dramatiq.actor(queue_name=RENDER_QUEUE, max_retries=0)
async def reconcile() -> None:
    for step in await pipeline.reconcile(runtime.current()):
        schedule(step)
