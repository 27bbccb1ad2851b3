"""Schema-driven fuzzing of the API (schemathesis against /api/schema/): no input gives a 5xx."""

from __future__ import annotations

import pytest
import schemathesis
from django.core.cache import cache
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from cryptotracker.wsgi import application
from prices.repository.memory import InMemoryTickRepository
from prices.services import history_store
from tests.realdata import candle_ticks

schema = schemathesis.from_wsgi("/api/schema/", application)


@pytest.fixture(scope="module")
def small_history() -> InMemoryTickRepository:
    """Six hours of real BTCUSD and ETHUSD minutes (2019-12-31), seen by the views."""
    repo = InMemoryTickRepository()
    for pair in ("BTCUSD", "ETHUSD"):
        ticks = [t for t in candle_ticks(pair, "19-12-31") if t.minute.hour < 6]
        history_store(ticks=ticks, repo=repo)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("prices.repository._repository", lambda *args: repo)
        yield repo


@pytest.fixture(autouse=True)
def _seeded(small_history, db):
    # Like Django's test client: keep the test database connection open across WSGI requests.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    cache.clear()
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def token(db) -> str:
    """An API token of a user, so the authenticated alert endpoints are fuzzed too."""
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    user = get_user_model().objects.create_user("fuzz", "fuzz@example.org", "fuzz-password-1")
    return Token.objects.create(user=user).key


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_request_makes_the_api_fail_with_a_server_error(case, token):
    response = case.call_wsgi(headers={"Authorization": f"Token {token}"})

    case.validate_response(response, checks=(not_a_server_error,))
