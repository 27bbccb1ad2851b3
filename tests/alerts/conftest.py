"""Fixtures of the alerts tests: users, channels, rules, and a price store seeded with hand-made ticks."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model

from alerts.models import AlertEvent, AlertRule, NotificationChannel
from prices.repository.memory import InMemoryTickRepository
from prices.services import history_store
from tests.alerts.helpers import T0, minute, ticks
from tests.alerts.receiver import Receiver, receiver_running

EXISTED_SINCE = datetime(2000, 1, 1, tzinfo=UTC)  # before every minute the tests judge (2019, 2024)


@pytest.fixture
def alice(db):
    """A user with an email address."""
    return get_user_model().objects.create_user("alice", email="alice@example.org", password="pw-alice-123")


@pytest.fixture
def bob(db):
    """Another user."""
    return get_user_model().objects.create_user("bob", email="bob@example.org", password="pw-bob-123")


@pytest.fixture
def alice_email(alice) -> NotificationChannel:
    """Alice's own (verified) email channel."""
    return NotificationChannel.objects.create(
        owner=alice, kind="email", target="alice@example.org", verified=True
    )


@pytest.fixture
def make_rule(alice, alice_email) -> Callable[..., AlertRule]:
    """Create a rule (default: Alice's BTCUSD price_above 100, rearm, 60 min cooldown, her email,
    created before every minute the tests judge)."""

    def make(**fields) -> AlertRule:
        channels = fields.pop("channels", [alice_email])
        # A rule judges no minute before it existed; the hand-made minutes are in 2024.
        created_at = fields.pop("created_at", EXISTED_SINCE)
        values = {
            "owner": alice,
            "name": "BTC above 100",
            "pair": "BTCUSD",
            "condition": "price_above",
            "threshold": Decimal("100"),
        }
        values.update(fields)
        rule = AlertRule.objects.create(**values)
        AlertRule.objects.filter(pk=rule.pk).update(created_at=created_at)  # auto_now_add ignores it
        rule.created_at = created_at
        rule.channels.set(channels)
        return rule

    return make


@pytest.fixture
def seed(memory_repo: InMemoryTickRepository) -> Callable[..., InMemoryTickRepository]:
    """Store a hand-made price sequence of one pair (None = no tick) from T0, through prices.services."""

    def store(pair: str, prices, *, start=T0) -> InMemoryTickRepository:
        history_store(ticks=ticks(pair, prices, start=start), repo=memory_repo)
        return memory_repo

    return store


@pytest.fixture
def configured_repo(monkeypatch, seed) -> InMemoryTickRepository:
    """The in-memory store that views, tasks and commands get from get_tick_repository(), with
    BTCUSD (99, 100.5, 101) and ETHUSD (150, 151, 152) ticks from T0."""
    repo = seed("BTCUSD", [99, "100.5", 101])
    seed("ETHUSD", [150, 151, 152])
    monkeypatch.setattr("prices.repository._repository", lambda *args: repo)
    return repo


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A real HTTP receiver on 127.0.0.1 that records whether (and how) it was called."""
    with receiver_running() as running:
        yield running


@pytest.fixture
def resolve_to(monkeypatch) -> Callable[[dict[str, str]], None]:
    """Make alerts.outbound's one DNS function answer these names with these addresses (others fail)."""

    def patch(names: dict[str, str]) -> None:
        def fake_resolve(host, port, *args, **kwargs):
            if host not in names:
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
            address = names[host]
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            sockaddr = (address, int(port or 0), 0, 0) if ":" in address else (address, int(port or 0))
            return [(family, socket.SOCK_STREAM, 6, "", sockaddr)]

        monkeypatch.setattr("alerts.outbound.resolve", fake_resolve)

    return patch


@pytest.fixture
def event(make_rule) -> AlertEvent:
    """A notifying event of a "BTC over 70k" crossing at minute 1 (70,112.5 against 70,000)."""
    rule = make_rule(name="BTC over 70k", condition="crosses_above", threshold=Decimal("70000"))
    return AlertEvent.objects.create(
        rule=rule,
        minute=minute(1),
        old_state="normal",
        new_state="firing",
        observed_value=Decimal("70112.5"),
        reference_value=Decimal("70000"),
        message="BTC over 70k: BTCUSD last price 70112.5 crossed above 70000",
        notify=True,
    )
