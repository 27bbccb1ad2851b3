"""Every 4xx of the API, on every endpoint, has the one documented shape {"error": {status, code, ...}}."""

from __future__ import annotations

import io
import re

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.test import RequestFactory
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle

from alerts.models import AlertRule, NotificationChannel
from cryptotracker.api_parsers import RequestTooLargeError, read_bounded

pytestmark = pytest.mark.django_db
METHODS = ("get", "post", "put", "patch", "delete")


def assert_error_shape(response, status: int) -> dict:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert list(body) == ["error"]
    error = body["error"]
    assert set(error) == {"status", "code", "message", "fields"}
    assert error["status"] == status
    assert isinstance(error["code"], str) and re.fullmatch(r"[a-z_]+", error["code"])
    assert error["code"] != "error"
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["fields"], dict) and "detail" not in error["fields"]
    assert all(isinstance(m, str) for messages in error["fields"].values() for m in messages)
    return error


@pytest.fixture
def user():
    return get_user_model().objects.create_user("carol", email="carol@example.org", password="pw-carol-1234")


@pytest.fixture
def authed(user, memory_configured_repo) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


@pytest.fixture
def anonymous(memory_configured_repo) -> APIClient:
    return APIClient()


def _endpoints() -> list[tuple[str, set[str]]]:
    """Every API path of the OpenAPI schema with its methods, path parameters filled in."""
    schema = APIClient().get("/api/schema/?format=json").json()
    endpoints = []
    for path, operations in schema["paths"].items():
        if not path.startswith("/api/v1/"):
            continue
        concrete = re.sub(r"\{pair\}", "NOSUCHPAIR", re.sub(r"\{\w+_id\}", "987654", path))
        endpoints.append((concrete, {m for m in operations if m in METHODS}))
    return endpoints


def test_the_sweep_covers_the_price_and_alert_endpoints(db):
    paths = {path for path, _ in _endpoints()}

    assert {
        "/api/v1/pairs/",
        "/api/v1/rank/",
        "/api/v1/alerts/rules/",
        "/api/v1/alerts/events/987654/",
    } <= paths
    assert len(paths) >= 12


def test_every_endpoint_answers_an_unknown_format_with_a_400_naming_it(authed):
    for path, methods in _endpoints():
        if "get" in methods:
            error = assert_error_shape(authed.get(path, {"format": "xml"}), 400)
            assert "format" in error["fields"], path


def test_every_endpoint_answers_an_unsupported_method_with_a_405(authed):
    for path, methods in _endpoints():
        missing = next(m for m in METHODS if m not in methods)
        error = assert_error_shape(getattr(authed, missing)(path), 405)
        assert error["code"] == "method_not_allowed", path


def test_every_endpoint_answers_an_unacceptable_accept_header_with_a_406(authed):
    for path, methods in _endpoints():
        if "get" in methods:
            error = assert_error_shape(authed.get(path, HTTP_ACCEPT="application/xml"), 406)
            assert error["code"] == "not_acceptable", path


def test_every_body_taking_endpoint_answers_an_unsupported_content_type_with_a_415(authed, user):
    rule = AlertRule.objects.create(owner=user, name="x", pair="BTCUSD", condition="price_above", threshold=1)
    channel = NotificationChannel.objects.create(
        owner=user, kind="email", target="c@example.org", verified=True
    )
    for path, methods in _endpoints():
        if path.endswith(("/backtest/", "/verification/")):
            continue  # their POST takes no body (backtest: only ?days=)
        real = path.replace("rules/987654", f"rules/{rule.pk}").replace(
            "channels/987654", f"channels/{channel.pk}"
        )
        for method in methods & {"post", "patch", "put"}:
            response = getattr(authed, method)(real, "a=1", content_type="text/plain")
            error = assert_error_shape(response, 415)
            assert error["code"] == "unsupported_media_type", (method, path)


def test_every_private_endpoint_answers_anonymous_requests_with_a_401(anonymous):
    private = [(p, m) for p, m in _endpoints() if p.startswith("/api/v1/alerts/") and "verify" not in p]

    for path, methods in private:
        for method in methods:
            error = assert_error_shape(getattr(anonymous, method)(path, {}, format="json"), 401)
            assert error["code"] == "not_authenticated", (method, path)


def test_every_object_endpoint_answers_an_unknown_object_with_a_404_of_one_code(authed, anonymous):
    for path, methods in _endpoints():
        if "987654" in path or "NOSUCHPAIR" in path:
            client = authed if path.startswith("/api/v1/alerts/") else anonymous
            for method in methods & {"get", "delete"}:
                error = assert_error_shape(getattr(client, method)(path), 404)
                assert error["code"] == "not_found", (method, path)
                assert error["fields"] == {}


@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize("method", ["get", "post", "delete"])
def test_an_unknown_api_path_is_the_same_404_with_or_without_debug(anonymous, settings, debug, method):
    settings.DEBUG = debug

    response = getattr(anonymous, method)("/api/v1/no/such/thing/")

    assert assert_error_shape(response, 404)["code"] == "not_found"


def test_an_api_endpoint_without_its_trailing_slash_still_redirects(anonymous):
    response = anonymous.get("/api/v1/rank?window=1h")

    assert response.status_code == 301
    assert response["Location"] == "/api/v1/rank/?window=1h"


@pytest.mark.parametrize("path", ["/api/v1/pairs/", "/api/v1/alerts/rules/", "/api/v1/alerts/events/"])
@pytest.mark.parametrize("page", ["abc", "0", "99"])
def test_a_bad_page_is_a_400_naming_it(authed, path, page):
    error = assert_error_shape(authed.get(path, {"page": page}), 400)

    assert list(error["fields"]) == ["page"]


def test_a_session_request_without_its_csrf_token_is_a_403(user, memory_configured_repo):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)

    response = client.post("/api/v1/alerts/rules/", {"name": "x"}, format="json")

    assert assert_error_shape(response, 403)["code"] == "permission_denied"


def test_requests_beyond_the_rate_are_a_429(monkeypatch, anonymous):
    for throttle in (AnonRateThrottle, UserRateThrottle):
        monkeypatch.setattr(throttle, "THROTTLE_RATES", {"anon": "1/min", "user": "1/min"})
    cache.clear()
    anonymous.get("/api/v1/rank/")

    response = anonymous.get("/api/v1/rank/")
    cache.clear()

    assert assert_error_shape(response, 429)["code"] == "throttled"


def test_a_deeply_nested_json_body_is_a_400_not_a_server_error(authed):
    body = "[" * 100_000 + "]" * 100_000

    response = authed.post("/api/v1/alerts/rules/", body, content_type="application/json")

    error = assert_error_shape(response, 400)
    assert error["code"] == "parse_error"
    assert "nested too deeply" in error["message"]


@pytest.mark.parametrize("content_type", ["application/json", "application/x-www-form-urlencoded"])
def test_an_oversized_body_is_a_413(authed, settings, content_type):
    body = '{"name": "' + "x" * (10 * 1024 * 1024) + '"}'

    response = authed.post("/api/v1/alerts/rules/", body, content_type=content_type)

    error = assert_error_shape(response, 413)
    assert error["code"] == "request_too_large"
    assert str(settings.DATA_UPLOAD_MAX_MEMORY_SIZE) in error["message"]


def test_a_body_without_a_declared_length_is_still_read_only_up_to_the_limit(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    request = RequestFactory().post("/", content_type="application/json")
    request.META.pop("CONTENT_LENGTH", None)
    stream = io.BytesIO(b"x" * 5000)

    with pytest.raises(RequestTooLargeError):
        read_bounded(stream, {"request": request})

    assert stream.tell() == 1001


def test_the_upload_limit_is_far_below_djangos_default_and_above_any_real_request(settings):
    assert 64 * 1024 <= settings.DATA_UPLOAD_MAX_MEMORY_SIZE <= 1024 * 1024
