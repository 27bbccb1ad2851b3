"""What the price commands say when the tick store fails: one CommandError line, no traceback."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from prices.repository import RepositoryError
from tests.realdata import SNAPSHOT_FILE

FAILURE = "DynamoDB query failed: Could not connect to the endpoint URL"


class UnreachableRepository:
    """A tick repository every call of which fails as an unreachable DynamoDB does."""

    def __getattr__(self, name):
        def fail(*args, **kwargs):
            raise RepositoryError(FAILURE)

        return fail


@pytest.mark.django_db
@pytest.mark.parametrize(
    "args",
    [
        ["ensure_tables"],
        ["expire_ticks", "--force"],
        ["import_prices", str(SNAPSHOT_FILE)],
        ["migrate_aggregates"],
        ["rebuild_rollups"],
    ],
)
def test_a_command_reports_an_unreachable_tick_store_as_one_command_error(monkeypatch, settings, args):
    settings.PRICES_RETENTION_DAYS = 1
    monkeypatch.setattr("prices.repository._repository", lambda *a, **k: UnreachableRepository())

    with pytest.raises(CommandError) as error:
        call_command(*args, verbosity=0)

    assert str(error.value) == FAILURE
    assert isinstance(error.value.__cause__, RepositoryError)
