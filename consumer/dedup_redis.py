"""The Redis dedup backend: one window shared by every replica (backend ``redis``).

With several pods, a rebalance moves a partition to another pod; a shared store keeps the
window (and the pending claims of in-flight records) across that move. Each batch operation is
one ``EVALSHA`` of a server-side Lua script, so a whole batch is claimed atomically in one round
trip. Keys and values are compact binary:

- key: ``<prefix><16-byte digest>``
- value: ``<8-byte owner digest, zeros when delivered><expires, ms, decimal>``

The scripts compare ``expires`` with the caller's clock (so the window follows the injected
clock like the embedded store does) and set a Redis TTL (``PX``) for the same span, so Redis
removes expired keys by itself. Scripts are for a single Redis (or a Sentinel-managed primary):
the keys of one batch would cross slots in Redis Cluster.

Connection loss, timeouts and a loading or read-only server become
:class:`~consumer.errors.InfrastructureError` (retriable): the pipeline then pauses consumption,
retries with backoff and settles nothing until the store answers again.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import RedisError

from consumer.dedup import Claim, Verdict, owner_digest
from consumer.errors import InfrastructureError

__all__ = ["RedisDedupStore"]

_TIMEOUT_S = 5.0  # per command; a claim script over 1000 keys takes about a millisecond
_CLIENT_RETRIES = 2  # quick reconnects inside the client; longer outages go to the pipeline

# KEYS: keys. ARGV: now_ms, pending_ttl_ms, owner per key. Returns '1' (proceed) / '0' per key.
_CLAIM = """
local now = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
local expires = string.format('%d', now + ttl)
local out = {}
for i, key in ipairs(KEYS) do
  local owner = ARGV[i + 2]
  local value = redis.call('GET', key)
  if value and tonumber(string.sub(value, 9)) > now and string.sub(value, 1, 8) ~= owner then
    out[i] = '0'
  else
    redis.call('SET', key, owner .. expires, 'PX', ttl)
    out[i] = '1'
  end
end
return table.concat(out)
"""

# KEYS: keys. ARGV: now_ms, window_ms. Every key becomes delivered for the window.
_CONFIRM = """
local ttl = tonumber(ARGV[2])
local value = string.rep('\\0', 8) .. string.format('%d', tonumber(ARGV[1]) + ttl)
for _, key in ipairs(KEYS) do
  redis.call('SET', key, value, 'PX', ttl)
end
return #KEYS
"""

# KEYS: keys. ARGV: owner per key. Deletes only claims still pending for that owner.
_RELEASE = """
local released = 0
for i, key in ipairs(KEYS) do
  local value = redis.call('GET', key)
  if value and string.sub(value, 1, 8) == ARGV[i] then
    redis.call('DEL', key)
    released = released + 1
  end
end
return released
"""


class RedisDedupStore:
    """``DedupStore`` on a shared Redis; one script call per batch."""

    def __init__(
        self,
        url: str,
        window_s: float,
        pending_ttl_s: float,
        clock: Callable[[], float],
        *,
        password: str | None = None,
        prefix: str = "capi:dd:",
    ) -> None:
        self._client = aioredis.Redis.from_url(
            url,
            password=password,
            socket_timeout=_TIMEOUT_S,
            socket_connect_timeout=_TIMEOUT_S,
            retry=Retry(ExponentialBackoff(cap=1.0, base=0.05), _CLIENT_RETRIES),
        )
        self._window_ms = math.ceil(window_s * 1000)
        self._pending_ttl_ms = math.ceil(pending_ttl_s * 1000)
        self._clock = clock
        self._prefix = prefix.encode()
        self._claim = self._client.register_script(_CLAIM)
        self._confirm = self._client.register_script(_CONFIRM)
        self._release = self._client.register_script(_RELEASE)

    async def claim(self, claims: Sequence[Claim]) -> list[Verdict]:
        if not claims:
            return []
        args: list[int | bytes] = [self._now_ms(), self._pending_ttl_ms]
        args += [owner_digest(claim.owner) for claim in claims]
        answer = await self._call(self._claim, self._keys(claims), args)
        return [Verdict.PROCEED if flag == 0x31 else Verdict.DUPLICATE for flag in answer]

    async def confirm(self, claims: Sequence[Claim]) -> None:
        if claims:
            await self._call(self._confirm, self._keys(claims), [self._now_ms(), self._window_ms])

    async def release(self, claims: Sequence[Claim]) -> None:
        if claims:
            owners = [owner_digest(claim.owner) for claim in claims]
            await self._call(self._release, self._keys(claims), owners)

    async def close(self) -> None:
        """Close the connection pool (Redis keeps the data)."""
        await self._client.aclose()

    def _keys(self, claims: Sequence[Claim]) -> list[bytes]:
        prefix = self._prefix
        return [prefix + claim.key for claim in claims]

    def _now_ms(self) -> int:
        return math.floor(self._clock() * 1000)

    async def _call(self, script: Any, keys: list[bytes], args: list[Any]) -> Any:
        try:
            return await script(keys=keys, args=args)
        except (RedisError, OSError) as exc:
            raise InfrastructureError(f"dedup store (redis): {type(exc).__name__}: {exc}") from exc
