"""Fixtures of the price tests: a DynamoDB repository (moto in-process) wired into the settings."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from django.core.cache import cache
from moto import mock_aws

from prices.repository import _repository, get_tick_repository
from prices.repository.dynamodb import DynamoTickRepository
from prices.repository.memory import InMemoryTickRepository


@pytest.fixture
def configured_repo(settings) -> Iterator[DynamoTickRepository]:
    """The repository the views and commands get from settings, on moto's in-process DynamoDB."""
    with mock_aws():
        settings.DYNAMODB_ENDPOINT_URL = None
        settings.DYNAMODB_TABLE_PREFIX = f"t{uuid.uuid4().hex[:8]}_"
        _repository.cache_clear()
        cache.clear()
        repo = get_tick_repository()
        repo.ensure_tables()
        yield repo
    _repository.cache_clear()
    cache.clear()


@pytest.fixture(scope="module")
def real_history_repo() -> Iterator[InMemoryTickRepository]:
    """An in-memory repository holding the real 2019-12-30/31 candles of 7 pairs, used by the views.

    (The DynamoDB implementation is held to the same contract in tests/contract.)
    """
    from prices.services import history_store
    from tests.realdata import PAIRS, candle_ticks

    repo = InMemoryTickRepository()
    for pair in PAIRS:
        history_store(ticks=candle_ticks(pair), repo=repo)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("prices.repository._repository", lambda *args: repo)
        yield repo


@pytest.fixture(autouse=True)
def _markets_cache_forgotten() -> Iterator[None]:
    """market_of's per-process cache of recorded markets never outlives a test's database."""
    from prices.exchanges import markets_forget

    markets_forget()
    yield
    markets_forget()
