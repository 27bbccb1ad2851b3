"""Alert evaluations, events and delivery attempts are counted for Prometheus."""

from __future__ import annotations

from decimal import Decimal

import pytest

from alerts.deliveries import delivery_send
from alerts.evaluation import EvaluationError, alert_rules_evaluate
from alerts.models import AlertEvent, Delivery
from cryptotracker.monitoring import metrics
from prices.repository.memory import InMemoryTickRepository
from tests.alerts.helpers import minute

pytestmark = pytest.mark.django_db


def sample(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


class UnreachableStore(InMemoryTickRepository):
    """A price store whose reads fail, as DynamoDB's do when it is down."""

    def snapshots_between(self, **kwargs):
        from prices.repository import RepositoryError

        raise RepositoryError("DynamoDB query failed: Could not connect to the endpoint URL")


def test_an_evaluation_counts_its_run_rule_minutes_and_events(make_rule, seed):
    make_rule()
    repo = seed("BTCUSD", [99, "100.5"])
    runs, rule_minutes, events = (
        sample("cryptotracker_alert_evaluations_total", status="evaluated"),
        sample("cryptotracker_alert_rule_evaluations_total"),
        sample("cryptotracker_alert_events_total"),
    )

    alert_rules_evaluate(minute=minute(1), now=minute(2), repo=repo, enqueue=lambda ids: None)

    assert sample("cryptotracker_alert_evaluations_total", status="evaluated") == runs + 1
    assert sample("cryptotracker_alert_rule_evaluations_total") == rule_minutes + 1
    assert sample("cryptotracker_alert_events_total") == events + AlertEvent.objects.count() == events + 1


def test_an_evaluation_that_cannot_read_prices_is_counted_as_failed(make_rule):
    make_rule()
    before = sample("cryptotracker_alert_evaluations_total", status="failed")

    with pytest.raises(EvaluationError):
        alert_rules_evaluate(
            minute=minute(1), now=minute(2), repo=UnreachableStore(), enqueue=lambda ids: None
        )

    assert sample("cryptotracker_alert_evaluations_total", status="failed") == before + 1


def test_delivery_attempts_are_counted_by_channel_kind_and_resulting_status(
    make_rule, alice_email, mailoutbox
):
    rule = make_rule()
    event = AlertEvent.objects.create(
        rule=rule, minute=minute(1), old_state="normal", new_state="firing", notify=True,
        observed_value=Decimal("100.5"), reference_value=Decimal("100"), message="BTC above 100",
    )  # fmt: skip
    delivery = Delivery.objects.create(
        event=event, channel=alice_email, kind="email", target=alice_email.target, next_attempt_at=minute(2)
    )
    before = sample("cryptotracker_alert_delivery_attempts_total", kind="email", status="sent")

    delivery_send(delivery_id=delivery.pk, now=minute(2))
    delivery_send(delivery_id=delivery.pk, now=minute(2))  # already sent: not an attempt

    assert len(mailoutbox) == 1
    assert sample("cryptotracker_alert_delivery_attempts_total", kind="email", status="sent") == before + 1
