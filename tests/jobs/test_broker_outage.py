"""A Redis outage while a delayed message falls due (a retry's backoff, a poll) must not
kill a Dramatiq consumer thread. With Dramatiq 2.2.1's own RedisBroker it does: the
re-enqueue of the due message raises a bare redis error and the ``.DQ`` consumer of that
queue is gone for the rest of the process, so retries and polls stop flowing (the first
test shows that and that ``RenderWorker.dead_threads`` would see it). ``jobs.broker``'s
RedisBroker turns the error into a connection loss the consumer recovers from.

Real redis-server processes of the tests' own (killed and restarted), real Dramatiq
workers.
"""

from __future__ import annotations

import threading
import time

import dramatiq
import pytest
import redis
from dramatiq import Worker
from dramatiq.brokers import redis as dramatiq_redis
from dramatiq.errors import ConnectionClosed

from jobs import broker as broker_module
from jobs.worker import dead_threads
from tests.fixtures.private_redis import PrivateRedis, free_port

pytestmark = pytest.mark.redis
QUEUE = "outage"


def _wait(predicate, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _outage_while_a_delayed_message_is_due(broker_class, private_redis: PrivateRedis):
    """Run a worker, hold two delayed messages in its ``.DQ`` consumer, kill Redis as
    one falls due, bring Redis back empty. Returns (worker, actor, ran)."""
    broker = broker_class(url=private_redis.url)
    ran: list[int] = []
    lock = threading.Lock()

    @dramatiq.actor(broker=broker, queue_name=QUEUE, actor_name=f"mark_{broker_class.__name__}",
                    max_retries=0)
    def mark(n: int) -> None:
        with lock:
            ran.append(n)

    worker = Worker(broker, worker_threads=1, worker_timeout=100)
    # The .DQ consumer holds at most two messages (Dramatiq's dramatiq_delay_queue_prefetch
    # setting): holding them, it stops fetching, so the first Redis call after the kill is
    # the re-enqueue of the due one -- what a worker holding its full share of delayed
    # messages does, and the race a worker between two fetches can lose. Stock Dramatiq
    # then tries to hand the other one back, and that error kills the thread.
    worker.delay_prefetch = 2
    worker.start()
    delayed = worker.consumers[f"{QUEUE}.DQ"]
    mark.send_with_options(args=(1,), delay=1500)
    mark.send_with_options(args=(0,), delay=600_000)
    _wait(lambda: delayed.delay_queue.qsize() == 2, 10, "the delayed messages to be held")
    private_redis.kill()
    time.sleep(2.5)  # the message falls due while Redis is down
    private_redis.start()
    return worker, mark, ran


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_stock_dramatiq_loses_the_delay_queue_consumer(private_redis):
    worker, _, _ = _outage_while_a_delayed_message_is_due(
        dramatiq_redis.RedisBroker, private_redis)
    try:
        _wait(lambda: not worker.consumers[f"{QUEUE}.DQ"].is_alive(), 10,
              "the stock consumer thread to die")
        # what makes `renderbot worker` exit for its supervisor to start a fresh one
        assert dead_threads(worker) == [f"consumer of {QUEUE}.DQ"]
    finally:
        worker.stop(timeout=5000)


def test_our_broker_keeps_every_consumer_through_a_redis_restart(private_redis):
    worker, mark, ran = _outage_while_a_delayed_message_is_due(
        broker_module.RedisBroker, private_redis)
    try:
        time.sleep(1.5)  # the consumers' restart loop (one second) has run
        assert dead_threads(worker) == []
        # Redis came back empty: the held message is gone, but new work flows, delayed too
        mark.send(2)
        mark.send_with_options(args=(3,), delay=300)
        _wait(lambda: {2, 3} <= set(ran), 20, "work sent after the restart to run")
    finally:
        worker.stop(timeout=5000)


def test_an_unreachable_redis_is_a_connection_loss_for_dramatiq_and_redis_callers():
    broker = broker_module.RedisBroker(url=f"redis://127.0.0.1:{free_port()}/0")
    message = dramatiq.Message(queue_name=QUEUE, actor_name="mark", args=(), kwargs={},
                               options={})
    with pytest.raises(ConnectionClosed) as caught:
        broker.enqueue(message, delay=100)
    assert isinstance(caught.value, redis.ConnectionError)
    assert "connecting to 127.0.0.1" in str(caught.value)
