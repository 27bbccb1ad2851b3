"""Tick storage: the TickRepository protocol and the configured DynamoDB implementation."""

from __future__ import annotations

from functools import lru_cache

from django.conf import settings

from prices.repository.base import LatestPrice, RepositoryError, TickRepository

__all__ = ["LatestPrice", "RepositoryError", "TickRepository", "get_tick_repository"]


@lru_cache(maxsize=8)
def _repository(
    prefix: str, region: str, endpoint: str | None, key: str | None, secret: str | None
) -> TickRepository:
    from prices.repository.dynamodb import DynamoTickRepository

    return DynamoTickRepository(
        table_prefix=prefix,
        region=region,
        endpoint_url=endpoint,
        access_key_id=key,
        secret_access_key=secret,
    )


def get_tick_repository() -> TickRepository:
    """The DynamoDB repository configured by the DYNAMODB_* and AWS_* settings (one per process)."""
    return _repository(
        settings.DYNAMODB_TABLE_PREFIX,
        settings.AWS_REGION,
        settings.DYNAMODB_ENDPOINT_URL,
        settings.AWS_ACCESS_KEY_ID,
        settings.AWS_SECRET_ACCESS_KEY,
    )
