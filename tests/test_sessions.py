"""Forged session cookies are treated as no session, never as a server error."""

import pytest
from django.test import Client


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["a" * 15 + "\x00" + "b" * 16, "ü" * 32, "../../" * 6, "x" * 8])
def test_a_session_cookie_django_never_issued_means_anonymous(key, memory_configured_repo):
    client = Client()
    client.cookies["sessionid"] = key

    response = client.get("/api/v1/pairs/")

    assert response.status_code == 200
    assert response.wsgi_request.user.is_anonymous
