"""The Redis dedup backend: one window shared by every replica (backend ``redis``).

With several pods, a rebalance moves a partition to another pod; a shared store keeps the
window (and the pending claims of in-flight records) across that move. Each batch operation is
one ``EVALSHA`` of a server-side Lua script, so a whole batch is claimed atomically in one round
trip; the batch's keys and owners travel as two packed blobs (16 and 8 bytes per key), not as
thousands of arguments. Keys and values are compact binary:

- key: ``<prefix><16-byte digest>``
- value: ``<8-byte owner digest, zeros when delivered><expires, ms, decimal>``

The scripts compare ``expires`` with the caller's clock (so the window follows the injected
clock like the embedded store does) and set a Redis TTL (``PX``) for the same span, so Redis
removes expired keys by itself. Scripts are for a single Redis (or a Sentinel-managed primary):
they build their keys from the blob (undeclared keys), and a batch would cross Cluster slots.

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

from consumer.core.dedup import Claim, Verdict, owner_digests
from consumer.credentials import mask_url_credentials
from consumer.errors import InfrastructureError

__all__ = ["RedisDedupStore"]

_TIMEOUT_S = 5.0  # per command; a claim script over 1000 keys takes about a millisecond
_CLIENT_RETRIES = 2  # quick reconnects inside the client; longer outages go to the pipeline

# Arguments are packed blobs, not one argument per key: encoding 2000 arguments per batch in
# the client costs more than the whole script on the server. ARGV: prefix, 16-byte keys, then:

# claim: now_ms, pending_ttl_ms, 8-byte owners. '1' (proceed) / '0' (duplicate) per key.
# The common case (absent) is a single SET NX GET.
_CLAIM = """
local prefix, keys, now, ttl, owners = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5]
local expires = string.format('%d', now + tonumber(ttl))
local out = {}
for i = 1, #keys / 16 do
  local key = prefix .. string.sub(keys, i * 16 - 15, i * 16)
  local owner = string.sub(owners, i * 8 - 7, i * 8)
  local old = redis.call('SET', key, owner .. expires, 'NX', 'GET', 'PX', ttl)
  if not old then
    out[i] = '1'
  elseif string.sub(old, 1, 8) == owner or tonumber(string.sub(old, 9)) <= now then
    redis.call('SET', key, owner .. expires, 'PX', ttl)
    out[i] = '1'
  else
    out[i] = '0'
  end
end
return table.concat(out)
"""

# confirm: now_ms, window_ms. Every key becomes delivered (owner of zeros) for the window.
_CONFIRM = """
local prefix, keys, ttl = ARGV[1], ARGV[2], ARGV[4]
local value = string.rep('\\0', 8) .. string.format('%d', tonumber(ARGV[3]) + tonumber(ttl))
for i = 1, #keys / 16 do
  redis.call('SET', prefix .. string.sub(keys, i * 16 - 15, i * 16), value, 'PX', ttl)
end
return #keys / 16
"""

# release: 8-byte owners. Deletes only claims still pending for that owner.
_RELEASE = """
local prefix, keys, owners = ARGV[1], ARGV[2], ARGV[3]
local released = 0
for i = 1, #keys / 16 do
  local key = prefix .. string.sub(keys, i * 16 - 15, i * 16)
  local value = redis.call('GET', key)
  if value and string.sub(value, 1, 8) == string.sub(owners, i * 8 - 7, i * 8) then
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
        owners = b"".join(owner_digests([claim.owner for claim in claims]))
        args = [self._now_ms(), self._pending_ttl_ms, owners]
        answer = await self._call(self._claim, claims, args)
        return [Verdict.PROCEED if flag == 0x31 else Verdict.DUPLICATE for flag in answer]

    async def confirm(self, claims: Sequence[Claim]) -> None:
        if claims:
            await self._call(self._confirm, claims, [self._now_ms(), self._window_ms])

    async def release(self, claims: Sequence[Claim]) -> None:
        if claims:
            owners = b"".join(owner_digests([claim.owner for claim in claims]))
            await self._call(self._release, claims, [owners])

    async def close(self) -> None:
        """Close the connection pool (Redis keeps the data)."""
        await self._client.aclose()

    def _now_ms(self) -> int:
        return math.floor(self._clock() * 1000)

    async def _call(self, script: Any, claims: Sequence[Claim], args: list[Any]) -> Any:
        """Run ``script`` with the prefix and the packed keys first; wrap Redis errors."""
        keys = b"".join([claim.key for claim in claims])
        try:
            return await script(args=[self._prefix, keys, *args])
        except (RedisError, OSError) as exc:
            detail = mask_url_credentials(str(exc))  # never the URL's password
            raise InfrastructureError(
                f"dedup store (redis): {type(exc).__name__}: {detail}"
            ) from exc
