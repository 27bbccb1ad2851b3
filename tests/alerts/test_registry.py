"""The condition registry: one entry per condition, its parameter specs, and the readers of it."""

from __future__ import annotations

from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from alerts.admin import AlertRuleForm
from alerts.api.views import RuleInputSerializer, RuleOutputSerializer
from alerts.rules import CONDITIONS, FIELDS, Condition, Param, RuleSpec, conditions_describe


def test_every_condition_has_one_registry_entry_with_a_label_and_parameters():
    assert set(CONDITIONS) == set(Condition)
    for condition, kind in CONDITIONS.items():
        assert kind.condition is condition
        assert kind.label and kind.description
        assert kind.params, condition


def test_each_parameter_names_a_stored_field_and_has_a_label_and_help():
    for kind in CONDITIONS.values():
        for param in kind.params:
            assert param.name in FIELDS
            assert param.label and param.help


@pytest.mark.parametrize(
    ("param", "value", "message"),
    [
        (
            Param("percent", "p", "h", minimum=Decimal(0), exclusive_minimum=True),
            Decimal(0),
            "must be greater than 0",
        ),
        (Param("window_minutes", "w", "h", minimum=2, maximum=1440), 1, "must be between 2 and 1440"),
        (Param("window_minutes", "w", "h", minimum=2, maximum=1440), 1441, "must be between 2 and 1440"),
        (
            Param("window_minutes", "w", "h", choices=((60, "1 h"), (360, "6 h"))),
            45,
            "must be one of 60, 360",
        ),
        (Param("multiplier", "m", "h", maximum=Decimal(10)), Decimal(11), "must be at most 10"),
    ],
)
def test_a_parameter_spec_explains_a_value_it_refuses(param, value, message):
    assert param.error(value) == message


def test_a_parameter_spec_accepts_the_bounds_it_includes():
    window = Param("window_minutes", "w", "h", minimum=2, maximum=1440)

    assert window.error(2) is None
    assert window.error(1440) is None


def test_a_parameter_a_condition_does_not_use_must_stay_at_its_default():
    errors = RuleSpec(
        Condition.SPIKE, multiplier=Decimal(3), window_minutes=60, threshold=Decimal(5)
    ).errors()

    assert errors == {"threshold": "not used by spike; leave it empty"}


def test_the_description_lists_every_condition_with_json_ready_parameters():
    described = {item["condition"]: item for item in conditions_describe()}

    spike = {p["name"]: p for p in described["spike"]["params"]}
    assert spike["multiplier"]["minimum"] == "1"
    assert spike["multiplier"]["exclusive_minimum"] is True
    assert spike["window_minutes"]["minimum"] == 2
    volatility = {p["name"]: p for p in described["volatility_above"]["params"]}
    assert [c["value"] for c in volatility["window_minutes"]["choices"]] == [60, 360, 1440]
    assert list(described) == [c.value for c in Condition]


def test_the_api_serializers_have_one_field_per_parameter():
    assert set(FIELDS) <= set(RuleInputSerializer().fields)
    assert set(FIELDS) <= set(RuleOutputSerializer().fields)


@pytest.mark.django_db
def test_the_admin_form_explains_each_parameter_from_the_registry():
    form = AlertRuleForm()

    assert "pct_change: Move (%)" in form.fields["percent"].help_text
    assert "volatility_above: Relative std (%)" in form.fields["percent"].help_text


@pytest.mark.django_db
def test_the_conditions_endpoint_describes_the_registry_to_a_signed_in_user(alice):
    client = APIClient()
    client.force_authenticate(alice)

    response = client.get("/api/v1/alerts/conditions/")

    assert response.status_code == 200
    assert response.json() == conditions_describe()


@pytest.mark.django_db
def test_the_conditions_endpoint_needs_a_user():
    response = APIClient().get("/api/v1/alerts/conditions/")

    assert response.status_code == 401
