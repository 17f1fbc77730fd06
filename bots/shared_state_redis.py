"""The shared state in Redis: every process of the app sees the same versions, leases and
budgets (Lua scripts, one round trip each). The rules are :mod:`bots.shared_state`'s, the
same as :class:`bots.shared_state_memory.SharedState`'s; when Redis cannot be reached the
sender paces alone (logged). :mod:`bots.shared_state` re-exports :class:`RedisSharedState`
and :data:`VERSION_TTL`."""

from __future__ import annotations

import asyncio
import logging
import time
import weakref

from limits import RateLimitItem

from bots.shared_state_memory import Claim, SharedState
from core import throttle

log = logging.getLogger("renderbot.chat.shared")

VERSION_TTL = 7 * 24 * 3600  # seconds a delivered version is remembered

# KEYS: delivered version, lease, last delivery (ms), newest version waiting anywhere;
# ARGV: version, owner, lease ms, now ms, interval ms
# -> {0 stale | 1 go | 2 busy | 3 wait, ms to wait}
_CLAIM = """
local d = redis.call('GET', KEYS[1])
if d and d >= ARGV[1] then return {0, 0} end
local p = redis.call('GET', KEYS[4])
if p and p > ARGV[1] then return {0, 0} end
redis.call('SET', KEYS[4], ARGV[1], 'PX', 120000)
local owner = redis.call('GET', KEYS[2])
if owner and owner ~= ARGV[2] then return {2, 0} end
local last = tonumber(redis.call('GET', KEYS[3]))
if last and tonumber(ARGV[5]) > 0 then
  local due = last + tonumber(ARGV[5])
  if due > tonumber(ARGV[4]) then return {3, due - tonumber(ARGV[4])} end
end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
return {1, 0}
"""
_DELIVERED = """
local d = redis.call('GET', KEYS[1])
if (not d) or d < ARGV[1] then redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3]) end
redis.call('SET', KEYS[3], ARGV[4], 'EX', ARGV[3])
if redis.call('GET', KEYS[2]) == ARGV[2] then redis.call('DEL', KEYS[2]) end
return 1
"""
_PENDING = """
local p = redis.call('GET', KEYS[1])
if (not p) or p < ARGV[1] then redis.call('SET', KEYS[1], ARGV[1], 'PX', 120000) end
return 1
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
"""
_CURRENT = """
local d = redis.call('GET', KEYS[1])
if d and d >= ARGV[1] then return 0 end
if redis.call('GET', KEYS[2]) ~= ARGV[2] then return 0 end
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return 1
"""
# KEYS: route -> bucket map; ARGV: route, major parameter, now (ms), key prefix
_TAKE = """
local h = redis.call('HGET', KEYS[1], ARGV[1]) or ARGV[1]
local b = ARGV[4] .. 'bucket:' .. h .. ':' .. ARGV[2]
local w = math.max(redis.call('PTTL', b .. ':block'),
                   redis.call('PTTL', ARGV[4] .. 'bucket:' .. ARGV[1] .. ':' .. ARGV[2] .. ':block'))
if w > 0 then return w end
local rem = tonumber(redis.call('HGET', b, 'remaining'))
local reset = tonumber(redis.call('HGET', b, 'reset'))
if rem and reset and reset > tonumber(ARGV[3]) then
  if rem <= 0 then return math.max(1, reset - tonumber(ARGV[3])) end
  redis.call('HINCRBY', b, 'remaining', -1)
end
return 0
"""
# ARGV: route, major, bucket hash or '', remaining, reset after (ms), now (ms), prefix
_LEARN = """
local h = ARGV[3]
if h ~= '' then redis.call('HSET', KEYS[1], ARGV[1], h)
else h = redis.call('HGET', KEYS[1], ARGV[1]) or ARGV[1] end
local b = ARGV[7] .. 'bucket:' .. h .. ':' .. ARGV[2]
local rem = tonumber(ARGV[4])
local reset = tonumber(ARGV[6]) + tonumber(ARGV[5])
local old = tonumber(redis.call('HGET', b, 'reset'))
local old_rem = tonumber(redis.call('HGET', b, 'remaining'))
if old and old_rem and math.abs(old - reset) < 250 then rem = math.min(rem, old_rem) end
redis.call('HSET', b, 'remaining', rem, 'reset', reset)
redis.call('PEXPIRE', b, tonumber(ARGV[5]) + 1000)
return 1
"""
# ARGV: route, major, bucket hash or '', milliseconds, prefix
_BLOCK_ROUTE = """
local h = ARGV[3]
if h == '' then h = redis.call('HGET', KEYS[1], ARGV[1]) or ARGV[1] end
for _, name in ipairs({h, ARGV[1]}) do  -- by the bucket and by the route (not learnt yet)
  local b = ARGV[5] .. 'bucket:' .. name .. ':' .. ARGV[2] .. ':block'
  if tonumber(ARGV[4]) > redis.call('PTTL', b) then redis.call('SET', b, '1', 'PX', ARGV[4]) end
end
return 1
"""
# GCRA (the "generic cell rate algorithm"): KEYS: theoretical arrival time (ms);
# ARGV: now ms, ms per call, tolerance ms -> 0 (go, counted) or ms until allowed
_PACE = """
local now = tonumber(ARGV[1])
local tat = math.max(tonumber(redis.call('GET', KEYS[1])) or 0, now)
local allowed_at = tat - tonumber(ARGV[3])
if allowed_at > now then return math.ceil(allowed_at - now) end
local new = tat + tonumber(ARGV[2])
redis.call('SET', KEYS[1], tostring(new), 'PX', math.ceil(new - now) + 1000)
return 0
"""
_BLOCK = """
local left = redis.call('PTTL', KEYS[1])
if tonumber(ARGV[1]) > left then redis.call('SET', KEYS[1], '1', 'PX', ARGV[1]) end
return 1
"""


class RedisSharedState(SharedState):
    """In Redis: every process of the app sees the same versions, leases and budgets."""

    def __init__(self, prefix: str, url: str) -> None:
        super().__init__(prefix)
        self.url = url
        self._clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._warned = 0.0

    def _scripts(self):
        loop = asyncio.get_running_loop()
        found = self._clients.get(loop)
        if found is None:
            import redis.asyncio as redis

            client = redis.Redis.from_url(self.url, socket_timeout=2, socket_connect_timeout=2)
            found = {name: client.register_script(lua) for name, lua in (
                ("claim", _CLAIM), ("delivered", _DELIVERED), ("release", _RELEASE),
                ("pending", _PENDING),
                ("current", _CURRENT), ("take", _TAKE), ("learn", _LEARN),
                ("block_route", _BLOCK_ROUTE), ("block", _BLOCK), ("pace", _PACE))}
            self._clients[loop] = found
        return found

    def redis(self):
        """This loop's Redis client (for values kept beside the budgets)."""
        return self._scripts()["block"].registered_client

    async def _run(self, name: str, keys: list[str], args: list, default):
        try:
            return await self._scripts()[name](keys=keys, args=args)
        except Exception as exc:  # noqa: BLE001 - see the module docstring
            if time.monotonic() - self._warned > 60:
                self._warned = time.monotonic()
                log.warning("chat shared state unavailable (%s: %s); pacing this process alone",
                            type(exc).__name__, exc)
            return default

    def _keys(self, key: str) -> list[str]:
        return [f"{self.prefix}v:{key}", f"{self.prefix}lease:{key}", f"{self.prefix}t:{key}",
                f"{self.prefix}p:{key}"]

    async def claim(self, key: str, version: str, owner: str, hold: float,
                    interval: float = 0.0) -> tuple[Claim, float]:
        code, wait_ms = await self._run("claim", self._keys(key), [
            version, owner, int(hold * 1000), int(time.time() * 1000), int(interval * 1000)],
            [1, 0])
        claim: Claim = {0: "stale", 1: "go", 2: "busy"}.get(int(code), "wait")
        return claim, int(wait_ms) / 1000

    async def delivered(self, key: str, version: str, owner: str) -> None:
        await self._run("delivered", self._keys(key)[:3],
                        [version, owner, VERSION_TTL, int(time.time() * 1000)], 1)

    async def pending(self, key: str, version: str) -> None:
        await self._run("pending", self._keys(key)[3:], [version], 1)

    async def release(self, key: str, owner: str) -> None:
        await self._run("release", self._keys(key)[1:2], [owner], 1)

    async def current(self, key: str, version: str, owner: str, hold: float) -> bool:
        return bool(await self._run("current", self._keys(key)[:2],
                                    [version, owner, int(hold * 1000)], 1))

    async def blocked_for(self, scope: str) -> float:
        try:
            client = self._scripts()["block"].registered_client
            left = await client.pttl(f"{self.prefix}block:{scope}")
        except Exception:  # noqa: BLE001
            return 0.0
        return max(0.0, left / 1000) if left and left > 0 else 0.0

    async def block(self, scope: str, seconds: float) -> None:
        await self._run("block", [f"{self.prefix}block:{scope}"],
                        [max(1, int(seconds * 1000))], 1)

    def _route_map(self) -> str:
        return f"{self.prefix}routes"

    async def take(self, route: str, major: str) -> float:
        left = await self._run("take", [self._route_map()],
                               [route, major, int(time.time() * 1000), self.prefix], 0)
        return int(left) / 1000

    async def learn(self, route: str, major: str, bucket: str | None, remaining: int,
                    reset_after: float) -> None:
        await self._run("learn", [self._route_map()], [
            route, major, bucket or "", remaining, int(reset_after * 1000),
            int(time.time() * 1000), self.prefix], 1)

    async def block_route(self, route: str, major: str, bucket: str | None,
                          seconds: float) -> None:
        await self._run("block_route", [self._route_map()], [
            route, major, bucket or "", max(1, int(seconds * 1000)), self.prefix], 1)

    async def pace(self, scope: str, per_second: float, tolerance: float) -> float:
        """One call of an evenly spaced budget shared by every process (GCRA): 0 when it
        may go now (and is counted), else seconds until it may. ``tolerance`` seconds of
        burst: any second sees at most ``per_second`` + ``tolerance × per_second`` calls; a
        smaller tolerance for some calls leaves the rest of the burst to the others."""
        left = await self._run("pace", [f"{self.prefix}pace:{scope}"], [
            int(time.time() * 1000), 1000 / per_second, int(tolerance * 1000)], 0)
        return int(left) / 1000

    async def hit(self, item: RateLimitItem, *identifiers: str) -> float:
        """One call of a moving-window budget (``limits``); 0 when allowed, else seconds
        until it would be."""
        try:
            limiter = throttle.limiter_for(self.url)
            if await limiter.hit(item, self.prefix, *identifiers):
                return 0.0
            stats = await limiter.get_window_stats(item, self.prefix, *identifiers)
        except Exception:  # noqa: BLE001 - as _run: pace alone
            return 0.0
        return max(0.001, stats.reset_time - time.time())
