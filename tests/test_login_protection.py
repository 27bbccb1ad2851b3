"""Login protection (django-axes) on the admin and the site's login form: lockout, 429 page, reset."""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import RequestFactory

from cryptotracker.login_protection import client_ip

pytestmark = pytest.mark.django_db
ADMIN_LOGIN = "/admin/login/"
SITE_LOGIN = "/accounts/login/"


@pytest.fixture
def root(db):
    return get_user_model().objects.create_superuser("root", "root@example.org", "pw-root-123")


def sign_in(client, url: str, password: str, *, ip: str = "203.0.113.7", username: str = "root"):
    return client.post(url, {"username": username, "password": password}, REMOTE_ADDR=ip)


@pytest.mark.parametrize("url", [ADMIN_LOGIN, SITE_LOGIN])
def test_five_wrong_passwords_lock_the_user_out_with_a_429_page_even_for_the_right_one(client, root, url):
    for _ in range(4):
        assert sign_in(client, url, "wrong").status_code == 200
    assert sign_in(client, url, "wrong").status_code == 429

    response = sign_in(client, url, "pw-root-123")

    assert response.status_code == 429
    assert "Too many failed sign-in attempts" in response.content.decode()
    assert "blocked for 15 minutes" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_a_successful_login_resets_the_failure_count(client, root):
    for _ in range(4):
        sign_in(client, ADMIN_LOGIN, "wrong")
    assert sign_in(client, ADMIN_LOGIN, "pw-root-123").status_code == 302
    client.logout()

    for _ in range(4):
        sign_in(client, ADMIN_LOGIN, "wrong")
    response = sign_in(client, ADMIN_LOGIN, "pw-root-123")

    assert response.status_code == 302


def test_the_lockout_is_per_user_and_address(client, root):
    for _ in range(5):
        sign_in(client, SITE_LOGIN, "wrong", ip="203.0.113.7")

    elsewhere = sign_in(client, SITE_LOGIN, "pw-root-123", ip="198.51.100.2")

    assert elsewhere.status_code == 302


def test_the_admin_lists_failed_attempts(client, root):
    for _ in range(2):
        sign_in(client, SITE_LOGIN, "wrong", username="mallory")
    client.force_login(root)

    page = client.get("/admin/axes/accessattempt/").content.decode()

    assert "mallory" in page and "203.0.113.7" in page


def test_an_operator_unlocks_a_user_with_axes_reset_username(client, root):
    for _ in range(5):
        sign_in(client, ADMIN_LOGIN, "wrong")

    call_command("axes_reset_username", "root")

    assert sign_in(client, ADMIN_LOGIN, "pw-root-123").status_code == 302
    assert not AccessAttempt.objects.exists()


@pytest.mark.parametrize(
    ("proxies", "forwarded", "expected"),
    [
        (0, "198.51.100.9", "10.0.0.5"),
        (1, "198.51.100.9", "198.51.100.9"),
        (1, "6.6.6.6, 198.51.100.9", "198.51.100.9"),
    ],
)
def test_failures_are_counted_by_the_address_the_proxy_saw(settings, proxies, forwarded, expected):
    settings.API_NUM_PROXIES = proxies
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR=forwarded)

    assert client_ip(request) == expected
