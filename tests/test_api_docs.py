"""The API presents itself readably: Swagger groups operations by resource, public reads carry no lock,
and the Swagger and browsable API pages have readable titles."""

import re

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from cryptotracker import api_docs

pytestmark = pytest.mark.django_db

PUBLIC_PRICE_PATHS = (
    "/api/v1/pairs/",
    "/api/v1/pairs/{pair}/",
    "/api/v1/pairs/{pair}/history/",
    "/api/v1/pairs/{pair}/stats/",
    "/api/v1/rank/",
    "/api/v1/exchanges/",
    "/api/v1/markets/",
    "/api/v1/markets/{market}/",
)


@pytest.fixture
def schema() -> dict:
    return APIClient().get("/api/schema/?format=json").json()


def _operations(schema: dict):
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            yield path, method, operation


def test_every_operation_has_one_declared_resource_tag(schema):
    declared = {tag["name"] for tag in schema["tags"]}
    default_tag = "v1"  # drf-spectacular's tag: the first path segment after the prefix

    for path, method, operation in _operations(schema):
        assert len(operation["tags"]) == 1 and operation["tags"][0] in declared, (method, path)
        assert operation["tags"] != [default_tag], (method, path)
    assert all(tag["description"] for tag in schema["tags"])


def test_operations_are_grouped_by_resource(schema):
    tags = {(method, path): operation["tags"][0] for path, method, operation in _operations(schema)}

    assert tags["get", "/api/v1/pairs/{pair}/"] == "Pairs"
    assert tags["get", "/api/v1/pairs/{pair}/history/"] == "History & candles"
    assert tags["get", "/api/v1/pairs/{pair}/stats/"] == "Statistics"
    assert tags["post", "/api/v1/alerts/rules/{rule_id}/backtest/"] == "Alert rules"
    assert tags["delete", "/api/v1/alerts/channels/{channel_id}/"] == "Channels"
    assert tags["get", "/api/v1/"] == "Meta"
    assert tags["get", "/api/v1/exchanges/"] == "Exchanges"
    assert tags["get", "/api/v1/markets/{market}/"] == "Markets"


def test_a_path_no_tag_covers_is_an_error_not_a_silent_default():
    with pytest.raises(ValueError, match="/api/v1/unknown/"):
        api_docs.tag_of("/api/v1/unknown/")


def test_public_price_reads_need_no_credentials(schema):
    for path in PUBLIC_PRICE_PATHS:
        assert schema["paths"][path]["get"]["security"] == [], path


def test_every_price_read_of_one_exchange_documents_its_exchange_parameter(schema):
    for path in PUBLIC_PRICE_PATHS:
        parameters = {p["name"]: p for p in schema["paths"][path]["get"].get("parameters", [])}
        if "/markets/" in path or path.endswith("/exchanges/"):
            assert "exchange" not in parameters, path  # these span every configured exchange
        else:
            assert "default bitfinex" in parameters["exchange"]["description"], path
    rank = schema["paths"]["/api/v1/rank/"]["get"]
    assert "`all`" in next(p for p in rank["parameters"] if p["name"] == "exchange")["description"]


def test_alert_operations_keep_their_credentials(schema):
    for path, method, operation in _operations(schema):
        if path.startswith("/api/v1/alerts/") and not path.endswith("/verify/"):
            assert operation["security"], (method, path)
            assert {} not in operation["security"], (method, path)
    create_rule = schema["paths"]["/api/v1/alerts/rules/"]["post"]
    assert create_rule["security"] == [{"tokenAuth": []}, {"cookieAuth": []}]


def test_a_public_operation_is_answered_anonymously_and_an_alerts_one_is_not():
    client = APIClient()

    assert client.get("/api/v1/").status_code == 200
    assert client.get("/api/v1/alerts/rules/").status_code in (401, 403)


def _title(html: bytes) -> str:
    return re.search(r"<title>(.*?)</title>", html.decode(), re.S).group(1).strip()


def test_the_swagger_page_is_titled_after_the_api():
    response = APIClient().get("/api/docs/")

    assert response.status_code == 200
    assert _title(response.content) == "cryptotracker API"


def test_browsable_api_pages_have_readable_names():
    user = get_user_model().objects.create_user("reader", password="pw-for-tests-only")
    client = APIClient()
    client.force_authenticate(user)

    root = client.get("/api/v1/", HTTP_ACCEPT="text/html")
    rules = client.get("/api/v1/alerts/rules/", HTTP_ACCEPT="text/html")

    assert _title(root.content) == "API root – cryptotracker API"
    assert _title(rules.content) == "Alert rule list – cryptotracker API"
    assert b"Alert Rule List Api" not in rules.content and b"Django REST framework" not in rules.content


@pytest.mark.parametrize(
    ("class_name", "expected"),
    [
        ("PairHistoryApi", "Pair history"),
        ("AlertRuleBacktestApi", "Alert rule backtest"),
        ("RankApi", "Rank"),
    ],
)
def test_view_names_are_sentences_not_class_names(class_name, expected):
    view = type(class_name, (), {})()

    assert api_docs.view_name(view) == expected
