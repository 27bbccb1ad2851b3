"""Cached price answers are fresh right after a store, in every web process, with or without Redis.

Each web process below has its own cache (two LocMemCache instances: what `make run` without
REDIS_URL gives every process); the cluster stores a minute in a third. Only the data version
in the store connects them.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.cache.backends.locmem import LocMemCache
from rest_framework.test import APIClient

from prices import selectors
from prices.cache import cached
from prices.repository import RepositoryError
from prices.repository.memory import InMemoryTickRepository
from prices.services import ticks_ingest
from prices.sources.base import TickerBatch, TickerRow
from prices.sources.fake import FakeTickerSource

pytestmark = pytest.mark.django_db  # ticks_stored's alerts receiver enqueues on commit
POLL = datetime(2019, 12, 31, 0, 1, 2, tzinfo=UTC)


def _poll(repo: InMemoryTickRepository, at: datetime, **prices: str) -> None:
    batch = TickerBatch(
        rows=[TickerRow(pair=p, last_price=Decimal(v)) for p, v in prices.items()], skipped=Counter()
    )
    summary = ticks_ingest(source=FakeTickerSource([batch]), repo=repo, now=lambda: at)
    assert summary.stored == len(prices)


def _web_process(name: str) -> LocMemCache:
    return LocMemCache(f"web-{name}", {})


def test_a_stored_minute_reaches_a_web_process_whose_cache_holds_the_answer_before_it():
    repo = InMemoryTickRepository()
    web_1, web_2 = _web_process("1"), _web_process("2")
    _poll(repo, POLL, BTCUSD="7000")

    def pairs(cache: LocMemCache) -> list[str]:
        overview, _ = cached("pairs", lambda: selectors.pairs_overview(repo=repo), cache=cache, repo=repo)
        return [o.pair.name for o in overview]

    assert pairs(web_1) == pairs(web_2) == ["BTCUSD"]
    _poll(repo, POLL.replace(minute=2), BTCUSD="7001", ETHUSD="130")

    assert pairs(web_2) == ["BTCUSD", "ETHUSD"]
    assert pairs(web_1) == ["BTCUSD", "ETHUSD"]


def test_an_answer_is_served_from_the_cache_until_the_next_store():
    repo = InMemoryTickRepository()
    web = _web_process("1")
    computed = []

    def answer() -> tuple[int, bool]:
        return cached("k", lambda: computed.append(1) or len(computed), cache=web, repo=repo)

    assert answer() == (1, False)
    assert answer() == (1, True)
    _poll(repo, POLL, BTCUSD="1")
    assert answer() == (2, False)


def test_pairs_api_shows_the_first_stored_minute_at_once_in_another_process(
    memory_configured_repo, monkeypatch
):
    web = _web_process("api")
    monkeypatch.setattr("prices.cache.default_cache", web)
    client = APIClient()
    assert client.get("/api/v1/pairs/").json()["count"] == 0

    _poll(memory_configured_repo, POLL, BTCUSD="7000", ETHUSD="130")  # the cluster, with its own cache

    body = client.get("/api/v1/pairs/").json()
    assert body["count"] == 2
    assert [r["last_minute"] for r in body["results"]] == ["2019-12-31T00:00:00Z"] * 2


def test_a_store_outage_while_publishing_the_version_never_fails_the_store(caplog):
    class VersionlessRepo(InMemoryTickRepository):
        def data_version_bump(self, *, exchange: str) -> None:
            raise RepositoryError("store down")

    repo = VersionlessRepo()

    _poll(repo, POLL, BTCUSD="1")

    assert repo.latest(exchange="bitfinex", pair="BTCUSD") is not None
    assert "could not publish the data version" in caplog.text


class VersionCountingRepo(InMemoryTickRepository):
    def __init__(self) -> None:
        super().__init__()
        self.version_reads = 0

    def data_version(self, *, exchange: str) -> int:
        self.version_reads += 1
        return super().data_version(exchange=exchange)


def test_a_web_process_reuses_the_data_version_for_its_ttl_and_then_sees_the_store(settings, monkeypatch):
    settings.PRICES_CACHE_VERSION_TTL_S = 1.0
    clock = [1000.0]
    monkeypatch.setattr("prices.cache._monotonic", lambda: clock[0])
    repo, web = VersionCountingRepo(), _web_process("ttl")
    _poll(repo, POLL, BTCUSD="7000")

    def pairs() -> list[str]:
        overview, _ = cached("pairs", lambda: selectors.pairs_overview(repo=repo), cache=web, repo=repo)
        return [o.pair.name for o in overview]

    assert pairs() == pairs() == ["BTCUSD"]
    _poll(repo, POLL.replace(minute=2), BTCUSD="7001", ETHUSD="130")
    assert pairs() == ["BTCUSD"]  # within the TTL: the version read before the store keys it
    clock[0] += 1.0

    assert pairs() == ["BTCUSD", "ETHUSD"]
    assert repo.version_reads == 2
