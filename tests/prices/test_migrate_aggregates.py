"""manage.py migrate_aggregates converts old-layout items (the conversion itself: contract suite)."""

import uuid
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from prices.repository import LatestPrice, _repository, get_tick_repository


@pytest.mark.integration
def test_the_command_converts_an_unsharded_registry_and_then_finds_nothing(dynalite_server, settings):
    settings.DYNAMODB_ENDPOINT_URL = dynalite_server
    settings.DYNAMODB_TABLE_PREFIX = f"test_{uuid.uuid4().hex[:8]}_"
    _repository.cache_clear()
    repo = get_tick_repository()
    repo.ensure_tables()
    try:
        old = {"pk": {"S": "bitfinex#latest"}, "sk": {"N": "0"}, "version": {"N": "3"},
               "BTCUSD": {"M": {"m": {"N": "1577836740000"}, "p": {"N": "7195.1"}}}}  # fmt: skip
        repo.client.put_item(TableName=repo.aggregates_table, Item=old)
        dry, out, again = StringIO(), StringIO(), StringIO()

        call_command("migrate_aggregates", "--dry-run", stdout=dry)
        assert repo.latest_prices(exchange="bitfinex") == {}
        call_command("migrate_aggregates", stdout=out)
        call_command("migrate_aggregates", stdout=again)

        assert dry.getvalue().strip() == "Would convert partitions: latest 1 (shards: 32)"
        assert out.getvalue().strip() == "Converted partitions: latest 1 (shards: 32)"
        assert again.getvalue().strip() == "Converted partitions: nothing (shards: 32)"
        assert repo.latest_prices(exchange="bitfinex") == {
            "BTCUSD": LatestPrice(1577836740000, Decimal("7195.1"))
        }
    finally:
        repo.delete_tables()
        _repository.cache_clear()


def test_a_repository_without_a_stored_layout_is_a_readable_error(memory_configured_repo):
    with pytest.raises(CommandError, match="no stored layout to migrate"):
        call_command("migrate_aggregates", stdout=StringIO())
