"""Response caching for price reads, valid until the next store of prices, in every process.

Cached entries are keyed by the exchange's data version, a counter in DynamoDB that every
store of minutes bumps (`prices.services.minutes.minutes_store`). Each web process reads it
with one strongly consistent read of that one small item at most once per
PRICES_CACHE_VERSION_TTL_S (1 s; 0 = on every cached read), so a minute stored by the cluster
is seen within that time by every web process, whether the cache is shared (Redis, with
REDIS_URL) or per process (local memory), and a cache hit in between costs no DynamoDB call
(that read was ~70 % of a hit). Requests never write to DynamoDB. Entries also expire at the
next minute boundary + INGEST_GRACE_S, which bounds memory, not freshness.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

from django.conf import settings
from django.core.cache import BaseCache
from django.core.cache import cache as default_cache

from prices.domain import EXCHANGE_BITFINEX
from prices.repository import TickRepository, get_tick_repository

INGEST_GRACE_S = 15
T = TypeVar("T")


def _ttl(now: float) -> int:
    return int(60 - now % 60) + INGEST_GRACE_S


def cached(
    key: str,
    compute: Callable[[], T],
    *,
    exchange: str = EXCHANGE_BITFINEX,
    cache: BaseCache | None = None,
    repo: TickRepository | None = None,
) -> tuple[T, bool]:
    """`compute()`'s value cached under `key` for the exchange's current data version; (value, hit).

    Raises RepositoryError when the data version cannot be read (as `compute` would).
    """
    return cached_across(key, compute, exchanges=[exchange], cache=cache, repo=repo)


def cached_across(
    key: str,
    compute: Callable[[], T],
    *,
    exchanges: Sequence[str],
    cache: BaseCache | None = None,
    repo: TickRepository | None = None,
) -> tuple[T, bool]:
    """`cached` for a value read from several exchanges: valid until any of them stores prices.

    Raises RepositoryError when a data version cannot be read.
    """
    cache = cache or default_cache
    repo = repo or get_tick_repository()
    versions = ":".join(f"{exchange}:{_data_version(repo, exchange)}" for exchange in exchanges)
    full_key = f"prices:{versions}:{hashlib.sha256(key.encode()).hexdigest()}"
    value = cache.get(full_key)
    if value is not None:
        return value, True
    value = compute()
    cache.set(full_key, value, timeout=_ttl(time.time()))
    return value, False


# (repository, exchange) → (data version, monotonic time it was read), for this process.
_monotonic = time.monotonic
_versions: dict[tuple[TickRepository, str], tuple[int, float]] = {}


def _data_version(repo: TickRepository, exchange: str) -> int:
    ttl = settings.PRICES_CACHE_VERSION_TTL_S
    if ttl <= 0:
        return repo.data_version(exchange=exchange)
    now = _monotonic()
    known = _versions.get((repo, exchange))
    if known is not None and now - known[1] < ttl:
        return known[0]
    version = repo.data_version(exchange=exchange)
    _versions[(repo, exchange)] = (version, now)
    return version
