"""The render queue's depth in Dramatiq's Redis keys: :func:`broker_stats`.

Dramatiq's RedisBroker keys (dramatiq/brokers/redis/dispatch.lua), namespace "dramatiq",
queue "renders" (jobs/enqueue.py): list <ns>:<q> holds ready message ids, hash
<ns>:<q>.msgs every message not yet acked (ready + being worked on), hash
<ns>:<q>.DQ.msgs the delayed ones, sorted set <ns>:<q>.XQ the dead letters.
"""

from __future__ import annotations

from pydantic import BaseModel

BROKER_NAMESPACE = "dramatiq"
BROKER_QUEUE = "renders"


class BrokerStats(BaseModel):
    url: str
    ready: int = 0
    delayed: int = 0
    in_flight: int = 0
    dead_letters: int = 0
    error: str | None = None


def _is_redis(url: str) -> bool:
    return url.startswith(("redis://", "rediss://", "unix://"))


async def broker_stats(url: str) -> BrokerStats:
    """Depth of the render queue and its dead letters in Dramatiq's Redis keys."""
    import redis.asyncio as aioredis

    safe_url = url.split("@")[-1] if "@" in url else url
    base = f"{BROKER_NAMESPACE}:{BROKER_QUEUE}"
    client = aioredis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        async with client.pipeline(transaction=False) as pipe:
            pipe.llen(base)
            pipe.hlen(f"{base}.msgs")
            pipe.hlen(f"{base}.DQ.msgs")
            pipe.zcard(f"{base}.XQ")
            ready, unacked, delayed, dead = await pipe.execute()
    except Exception as exc:  # noqa: BLE001 - any failure is shown, not raised
        return BrokerStats(url=safe_url, error=f"{exc.__class__.__name__}: {exc}"[:200])
    finally:
        await client.aclose()
    return BrokerStats(url=safe_url, ready=ready, delayed=delayed,
                       in_flight=max(0, unacked - ready), dead_letters=dead)
