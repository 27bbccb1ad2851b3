"""Response caching for price reads, valid until the next ingestion.

Cached entries are keyed by a data generation that every `ticks_stored` signal bumps, so a
cache shared between processes (Redis, when REDIS_URL is set) is invalidated the moment a
minute is stored. Entries also expire at the next minute boundary + INGEST_GRACE_S, which
bounds staleness for a per-process cache (local memory) that never sees another process's
bump.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from django.core.cache import cache

logger = logging.getLogger(__name__)

GENERATION_KEY = "prices:generation"
INGEST_GRACE_S = 15
T = TypeVar("T")


def data_generation() -> int:
    """The current data generation (0 before the first ingestion)."""
    return int(cache.get(GENERATION_KEY) or 0)


def invalidate(**_: Any) -> None:
    """Start a new data generation: every cached price response becomes stale (signal receiver)."""
    try:
        cache.incr(GENERATION_KEY)
    except ValueError:
        cache.add(GENERATION_KEY, 1, timeout=None)
    except Exception:  # a cache outage must never fail ingestion
        logger.exception("could not invalidate the price cache")


def _ttl(now: float) -> int:
    return int(60 - now % 60) + INGEST_GRACE_S


def cached(key: str, compute: Callable[[], T]) -> tuple[T, bool]:
    """`compute()`'s value cached under `key` for the current generation; returns (value, hit)."""
    full_key = f"prices:{data_generation()}:{hashlib.sha256(key.encode()).hexdigest()}"
    value = cache.get(full_key)
    if value is not None:
        return value, True
    value = compute()
    cache.set(full_key, value, timeout=_ttl(time.time()))
    return value, False
