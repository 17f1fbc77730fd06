"""Callbacks to webhook callers as Dramatiq messages on the ``callbacks`` queue.

:class:`CallbackNotifier` (a :class:`core.notify.Notifier`, installed by the worker) turns
a job change into a ``deliver_callback`` message for jobs that have a ``callback_url``;
progress is throttled per job. The actor re-reads the job, POSTs the signed event with httpx
through :class:`core.network.PinnedTransport` (one lookup, every address vetted against
the network policy, the connection made to the vetted address; redirects are not
followed), records the
attempt and, on a non-2xx answer or a timeout, sends itself again with an exponential
delay until ``callbacks.max_attempts`` is reached. Every try of one event carries the
same body and ``Renderbot-Event-Id``; the signature is fresh each time.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from dataclasses import dataclass

import dramatiq
import httpx

from core import callbacks, network
from core.models import TERMINAL_STATES
from core.notify import JobChange
from core.runtime import Runtime
from core.schemas import JobRead
from jobs import broker as broker_module
from jobs import runtime as job_runtime

CALLBACK_QUEUE = "callbacks"
ACTOR_NAME = "deliver_callback"
USER_AGENT = "renderbot-callbacks/1"
log = logging.getLogger("renderbot.callbacks")


@dataclass(frozen=True)
class Retry:
    delay: float
    body: str


async def deliver_callback(
    job_id: str, event_type: str, event_id: str, attempt: int = 1, body: str | None = None
) -> None:
    """The actor: one delivery attempt, then the retry message if one is due."""
    retry = await deliver(
        job_runtime.current(), job_id=job_id, event_type=event_type, event_id=event_id,
        attempt=attempt, body=body,
    )
    if retry is not None:
        actor().send_with_options(
            args=(job_id, event_type, event_id, attempt + 1, retry.body),
            delay=max(1, int(retry.delay * 1000)),
        )


_actor: dramatiq.Actor | None = None


def actor() -> dramatiq.Actor:
    """``deliver_callback`` declared on this process's broker (on first use, so that
    producers such as the API can import this module without setting up a broker)."""
    global _actor
    if _actor is None:
        broker = broker_module.get_broker()
        _actor = dramatiq.actor(
            deliver_callback, actor_name=ACTOR_NAME, queue_name=CALLBACK_QUEUE, broker=broker,
            # Only for errors outside the delivery itself (the database briefly down): the
            # receiver's answers are retried by deliver() with their own attempt count.
            max_retries=3, min_backoff=1_000, max_backoff=30_000,
        )
    return _actor


async def deliver(
    rt: Runtime,
    *,
    job_id: str,
    event_type: str,
    event_id: str,
    attempt: int = 1,
    body: str | None = None,
) -> Retry | None:
    """One delivery attempt; returns the retry to schedule, if any."""
    policy = rt.settings.callbacks
    extra = {"job_id": job_id, "event_id": event_id}
    async with rt.db.transaction() as session:
        target = await callbacks.target(session=session, job_id=job_id)
    if target is None:
        return None
    if event_type == "render.progress" and target.job.status in TERMINAL_STATES:
        log.debug("job %s ended; progress event %s dropped", job_id, event_id, extra=extra)
        return None
    if body is None:
        body = callbacks.event_body(
            event_id=event_id, event_type=event_type, job=target.job
        ).decode()
    payload = body.encode()

    status_code: int | None = None
    error: str | None = None
    url = network.redact(target.url)  # logs never carry the query string (tokens)
    extra["url"] = url
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        callbacks.SIGNATURE_HEADER: callbacks.sign(target.secret, payload),
        callbacks.EVENT_ID_HEADER: event_id,
        callbacks.EVENT_TYPE_HEADER: event_type,
    }
    started = time.perf_counter()
    try:
        # The transport resolves once, vets every address, connects to the vetted one.
        transport = network.PinnedTransport(network.policy(rt.settings))
        async with httpx.AsyncClient(
            transport=transport, timeout=policy.timeout, follow_redirects=False, trust_env=False
        ) as client:
            response = await client.post(target.url, content=payload, headers=headers)
        status_code = response.status_code
        if not callbacks.delivered(status_code):
            error = f"answered HTTP {status_code}"
    except network.AddressRefused as exc:
        async with rt.db.transaction() as session:
            await callbacks.record_attempt(
                session=session, job_id=job_id, event_id=event_id, event_type=event_type,
                url=target.url, attempt=attempt, outcome="refused", error=f"callback_url: {exc}",
            )
        log.warning("callback %s for job %s to %s refused: %s", event_id, job_id, url, exc,
                    extra=extra)
        return None
    except httpx.TimeoutException:
        error = f"no answer within {policy.timeout:g} s"
    except httpx.HTTPError as exc:
        error = f"{exc.__class__.__name__}: {exc}" if str(exc) else exc.__class__.__name__
    latency_ms = int((time.perf_counter() - started) * 1000)

    if error is None:
        outcome, delay = "delivered", None
    else:
        delay = callbacks.retry_delay(policy, attempt)
        outcome = "retrying" if delay is not None else "failed"
    async with rt.db.transaction() as session:
        await callbacks.record_attempt(
            session=session, job_id=job_id, event_id=event_id, event_type=event_type,
            url=target.url, attempt=attempt, outcome=outcome, status_code=status_code,
            latency_ms=latency_ms, error=error,
        )
    if outcome == "delivered":
        log.info("callback %s %s for job %s to %s delivered (attempt %d, %d ms)", event_type,
                 event_id, job_id, url, attempt, latency_ms, extra=extra)
        return None
    if delay is None:
        log.warning("callback %s %s for job %s to %s failed for good after %d attempts: %s",
                    event_type, event_id, job_id, url, attempt, error, extra=extra)
        return None
    log.info("callback %s %s for job %s attempt %d failed (%s); retry in %.1f s", event_type,
             event_id, job_id, attempt, error, delay, extra=extra)
    return Retry(delay=delay, body=body)


class CallbackNotifier:
    """The notifier adapter: job changes → ``deliver_callback`` messages."""

    def __init__(self, rt: Runtime, *, cache_size: int = 10_000) -> None:
        self.rt = rt
        self.throttle = callbacks.ProgressThrottle(rt.settings.callbacks.progress_interval)
        self.cache_size = cache_size
        self._urls: OrderedDict[str, bool] = OrderedDict()

    async def job_changed(self, job: JobRead, change: JobChange) -> None:
        event_type = callbacks.event_for(change)
        if event_type is None:
            return
        final = event_type != "render.progress"
        if not final and not self.throttle.allow(job.id):
            return
        if not await self._has_callback(job):
            return
        if final:
            self.throttle.forget(job.id)
            self._urls.pop(job.id, None)
        actor().send(job.id, event_type, callbacks.new_event_id(), 1)

    async def _has_callback(self, job: JobRead) -> bool:
        job_id = job.id
        if job_id in self._urls:
            self._urls.move_to_end(job_id)
            return self._urls[job_id]
        found = job.has_callback  # read from the job's row with the rest: no lookup
        if found is None:
            async with self.rt.db.transaction() as session:
                found = bool(await callbacks.callback_url(session=session, job_id=job_id))
        self._urls[job_id] = found
        while len(self._urls) > self.cache_size:
            self._urls.popitem(last=False)
        return found


def install(rt: Runtime) -> None:
    """Declare the actor on the worker's broker and add the callback notifier to its
    runtime (once). Call before the Dramatiq worker starts consuming."""
    actor()
    if not any(isinstance(a, CallbackNotifier) for a in rt.notifiers.adapters):
        rt.notifiers.add(CallbackNotifier(rt))
