"""Production settings: check --deploy is clean, HTTPS behind a proxy, throttling, authentication, CSRF."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.test import Client
from rest_framework.test import APIClient
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle

from tests.conftest import ROOT

PRODUCTION = {
    "DJANGO_DEBUG": "false",
    "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
    "DJANGO_ALLOWED_HOSTS": "tracker.example.org",
    "DJANGO_CSRF_TRUSTED_ORIGINS": "https://tracker.example.org",
    "DJANGO_BEHIND_TLS_PROXY": "true",
    "METRICS_TOKEN": secrets.token_urlsafe(32),
}
LOCAL = {"DJANGO_DEBUG": "true", "DJANGO_SECRET_KEY": "local-development-secret-change-me"}

SHOW_SETTINGS = """
import json, django
from django.conf import settings
django.setup()
names = ["DEBUG", "SECURE_SSL_REDIRECT", "SECURE_PROXY_SSL_HEADER", "SESSION_COOKIE_SECURE",
         "CSRF_COOKIE_SECURE", "SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS",
         "SECURE_HSTS_PRELOAD", "X_FRAME_OPTIONS", "REST_FRAMEWORK"]
print(json.dumps({name: getattr(settings, name, None) for name in names}))
"""


def run_django(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run Python with cryptotracker.settings (not the test settings) and exactly these variables.

    The project's .env still fills in what `env` leaves out, as it would on a server.
    """
    clean = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DJANGO_SETTINGS_MODULE": "cryptotracker.settings",
    }
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env={**clean, **env}, capture_output=True, text=True, timeout=120
    )


def settings_with(env: dict[str, str]) -> dict:
    result = run_django(["-c", SHOW_SETTINGS], env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


# --- the deployment checklist -------------------------------------------------------------


def test_check_deploy_reports_nothing_in_production_settings():
    result = run_django(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], PRODUCTION)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_check_deploy_warns_when_metrics_are_open_to_anyone():
    result = run_django(["manage.py", "check", "--deploy"], {**PRODUCTION, "METRICS_TOKEN": ""})

    assert "monitoring.W001" in result.stderr


def test_production_without_a_secret_key_does_not_start():
    result = run_django(["manage.py", "check"], {**PRODUCTION, "DJANGO_SECRET_KEY": ""})

    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is not set" in result.stderr


def test_production_refuses_the_public_example_secret_key_of_env_example():
    result = run_django(
        ["manage.py", "check"], {**PRODUCTION, "DJANGO_SECRET_KEY": LOCAL["DJANGO_SECRET_KEY"]}
    )

    assert result.returncode != 0
    assert "public example" in result.stderr


def test_production_uses_secure_cookies_hsts_and_the_proxys_scheme():
    values = settings_with(PRODUCTION)

    assert values["DEBUG"] is False
    assert values["SECURE_SSL_REDIRECT"] is True
    assert values["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert (values["SESSION_COOKIE_SECURE"], values["CSRF_COOKIE_SECURE"]) == (True, True)
    assert values["SECURE_HSTS_SECONDS"] == 31_536_000
    assert values["X_FRAME_OPTIONS"] == "DENY"
    assert values["REST_FRAMEWORK"]["NUM_PROXIES"] == 1
    assert values["REST_FRAMEWORK"]["DEFAULT_THROTTLE_RATES"] == {"anon": "120/min", "user": "600/min"}


def test_the_proxy_header_is_not_trusted_unless_behind_a_tls_proxy():
    values = settings_with({**PRODUCTION, "DJANGO_BEHIND_TLS_PROXY": "false"})

    assert values["SECURE_PROXY_SSL_HEADER"] is None
    assert values["REST_FRAMEWORK"]["NUM_PROXIES"] == 0


def test_local_development_stays_plain_http():
    values = settings_with(LOCAL)

    assert values["DEBUG"] is True
    assert values["SECURE_SSL_REDIRECT"] is False
    assert (values["SESSION_COOKIE_SECURE"], values["CSRF_COOKIE_SECURE"]) == (False, False)
    assert values["SECURE_HSTS_SECONDS"] == 0


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("API_THROTTLE_ANON", "lots"),
        ("METRICS_ALLOWED_NETWORKS", "10.0.0.0/33"),
        ("ALERTS_OUTBOUND_ALLOWED_NETWORKS", "192.168.1.0/24,lan"),
        ("PROMETHEUS_MULTIPROC_DIR", "var/prometheus"),
        ("PROMETHEUS_MULTIPROC_DIR", "/nonexistent/prometheus"),
    ],
)
def test_a_malformed_setting_stops_the_start_naming_the_variable(name, value):
    result = run_django(["manage.py", "check"], {**LOCAL, name: value})

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert name in result.stderr


# --- HTTPS behind the proxy (in process) ----------------------------------------------------


@pytest.fixture
def https_behind_proxy(settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_HSTS_SECONDS = 31_536_000
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = True


def test_plain_http_is_redirected_to_https(https_behind_proxy):
    response = Client().get("/api/v1/pairs/?quote=USD")

    assert response.status_code == 301
    assert response["Location"] == "https://testserver/api/v1/pairs/?quote=USD"


def test_https_through_the_proxy_is_served_with_hsts(https_behind_proxy, memory_configured_repo, db):
    response = Client().get("/api/v1/pairs/", HTTP_X_FORWARDED_PROTO="https")

    assert response.status_code == 200
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_probes_over_plain_http_are_not_redirected(https_behind_proxy):
    assert Client().get("/healthz").status_code == 200


# --- API throttling ---------------------------------------------------------------------------


@pytest.fixture
def low_rates(monkeypatch):
    """Two anonymous and three authenticated requests per minute, counted from an empty cache."""
    # DRF reads the rates into the throttle classes when it imports them.
    monkeypatch.setattr(AnonRateThrottle, "THROTTLE_RATES", {"anon": "2/min", "user": "3/min"})
    monkeypatch.setattr(UserRateThrottle, "THROTTLE_RATES", {"anon": "2/min", "user": "3/min"})
    cache.clear()
    yield
    cache.clear()


@pytest.mark.django_db
def test_anonymous_api_requests_beyond_the_rate_get_429_in_the_api_error_shape(
    low_rates, memory_configured_repo
):
    client = APIClient()
    statuses = [client.get("/api/v1/pairs/").status_code for _ in range(3)]

    response = client.get("/api/v1/pairs/")

    assert statuses == [200, 200, 429]
    assert response.status_code == 429
    error = response.json()["error"]
    assert (error["status"], error["code"]) == (429, "throttled")
    assert int(response["Retry-After"]) > 0


@pytest.mark.django_db
def test_authenticated_users_have_their_own_rate(low_rates, memory_configured_repo):
    user = get_user_model().objects.create_user("carol", password="pw-carol-1234")
    client = APIClient()
    client.force_authenticate(user)

    statuses = [client.get("/api/v1/pairs/").status_code for _ in range(4)]

    assert statuses == [200, 200, 200, 429]


@pytest.mark.django_db
def test_health_and_readiness_are_never_throttled(low_rates, memory_configured_repo):
    client = Client()

    statuses = {client.get(path).status_code for path in ["/healthz", "/readyz"] * 5}

    assert 429 not in statuses


# --- who may call what ------------------------------------------------------------------------

ALERT_ENDPOINTS = [
    ("get", "/api/v1/alerts/rules/"),
    ("post", "/api/v1/alerts/rules/"),
    ("get", "/api/v1/alerts/rules/1/"),
    ("patch", "/api/v1/alerts/rules/1/"),
    ("delete", "/api/v1/alerts/rules/1/"),
    ("post", "/api/v1/alerts/rules/1/backtest/"),
    ("get", "/api/v1/alerts/channels/"),
    ("post", "/api/v1/alerts/channels/"),
    ("get", "/api/v1/alerts/channels/1/"),
    ("get", "/api/v1/alerts/events/"),
    ("get", "/api/v1/alerts/events/1/"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path"), ALERT_ENDPOINTS)
def test_anonymous_alert_api_requests_get_401_in_the_api_error_shape(method, path):
    response = getattr(APIClient(), method)(path, {}, format="json")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


@pytest.mark.django_db
def test_the_admin_asks_anonymous_visitors_to_log_in():
    response = Client().get("/admin/alerts/alertrule/")

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


@pytest.mark.django_db
def test_the_price_api_is_public(memory_configured_repo):
    assert APIClient().get("/api/v1/pairs/").status_code == 200


@pytest.mark.django_db
def test_a_session_authenticated_write_without_the_csrf_token_is_refused():
    user = get_user_model().objects.create_user("dave", password="pw-dave-1234")
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)

    response = client.post(
        "/api/v1/alerts/channels/", {"kind": "email", "target": "d@example.org"}, format="json"
    )

    assert response.status_code == 403
    assert "CSRF" in response.json()["error"]["message"]
