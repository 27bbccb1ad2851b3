"""Tick storage: the TickRepository protocol and the configured DynamoDB implementation."""

from __future__ import annotations

from functools import lru_cache

from django.conf import settings

from prices.repository.base import LatestPrice, PolledRead, RepositoryError, TickRepository

__all__ = ["LatestPrice", "PolledRead", "RepositoryError", "TickRepository", "get_tick_repository"]


@lru_cache(maxsize=8)
def _repository(
    prefix: str,
    region: str,
    endpoint: str | None,
    key: str | None,
    secret: str | None,
    timeout_s: float | None = None,
    retention_days: int | None = None,
    shards: int = 32,
) -> TickRepository:
    from prices.repository.dynamodb import DynamoTickRepository

    limits = {}
    if timeout_s is not None:
        limits = {"connect_timeout_s": timeout_s, "read_timeout_s": timeout_s, "max_attempts": 1}
    return DynamoTickRepository(
        table_prefix=prefix,
        region=region,
        endpoint_url=endpoint,
        access_key_id=key,
        secret_access_key=secret,
        retention_days=retention_days,
        shards=shards,
        **limits,
    )


def get_tick_repository(*, timeout_s: float | None = None) -> TickRepository:
    """The DynamoDB repository configured by the DYNAMODB_*, AWS_*, PRICES_RETENTION_DAYS and
    PRICES_AGGREGATE_SHARDS settings (one per process).

    With `timeout_s`, a separate instance whose connects and reads give up after that many
    seconds, without retries: for readiness probes, which must answer quickly when the
    store is down.
    """
    return _repository(
        settings.DYNAMODB_TABLE_PREFIX,
        settings.AWS_REGION,
        settings.DYNAMODB_ENDPOINT_URL,
        settings.AWS_ACCESS_KEY_ID,
        settings.AWS_SECRET_ACCESS_KEY,
        timeout_s,
        settings.PRICES_RETENTION_DAYS,
        settings.PRICES_AGGREGATE_SHARDS,
    )
