"""GET /api/v1/ links every collection of the API, anonymously, and is in the OpenAPI schema."""

import pytest


@pytest.mark.django_db
def test_api_root_links_every_collection_with_absolute_urls(client):
    response = client.get("/api/v1/")

    assert response.status_code == 200
    assert response.json() == {
        "pairs": "http://testserver/api/v1/pairs/",
        "rank": "http://testserver/api/v1/rank/",
        "exchanges": "http://testserver/api/v1/exchanges/",
        "markets": "http://testserver/api/v1/markets/",
        "alert_rules": "http://testserver/api/v1/alerts/rules/",
        "alert_channels": "http://testserver/api/v1/alerts/channels/",
        "alert_events": "http://testserver/api/v1/alerts/events/",
        "schema": "http://testserver/api/schema/",
        "docs": "http://testserver/api/docs/",
    }


@pytest.mark.django_db
def test_api_root_is_browsable_and_in_the_schema(client):
    html = client.get("/api/v1/", HTTP_ACCEPT="text/html")
    schema = client.get("/api/schema/?format=json")

    assert html.status_code == 200 and b"/api/v1/pairs/" in html.content
    assert "/api/v1/" in schema.json()["paths"]
