"""pairs/ cached hits are served pre-rendered, as rank's are: no re-serialising, no re-rendering."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from rest_framework.renderers import JSONRenderer
from rest_framework.test import APIClient


@pytest.fixture
def api(real_history_repo, db) -> APIClient:
    """An API client over the real history; the database holds the pairs' statuses."""
    cache.clear()
    return APIClient()


@pytest.fixture
def renders(monkeypatch) -> list[object]:
    """Every body the JSON renderer renders (a pre-rendered hit renders nothing)."""
    rendered: list[object] = []
    original = JSONRenderer.render

    def render(self, data, *args, **kwargs):
        rendered.append(data)
        return original(self, data, *args, **kwargs)

    monkeypatch.setattr(JSONRenderer, "render", render)
    return rendered


def test_a_cached_pairs_hit_is_served_without_rendering_again(api, renders):
    first = api.get("/api/v1/pairs/?ordering=-last_price&page_size=3")
    rendered_by_first = len(renders)

    second = api.get("/api/v1/pairs/?ordering=-last_price&page_size=3")

    assert first.status_code == second.status_code == 200
    assert second.content == first.content
    assert second["Content-Type"] == "application/json"
    assert rendered_by_first == 1 and len(renders) == 1
    assert [p["pair"] for p in second.json()["results"]] == ["BTCUSD", "ETHUSD", "LTCUSD"]


def test_each_query_and_each_data_version_gets_its_own_pairs_body(api, renders, real_history_repo):
    page_one = api.get("/api/v1/pairs/?page_size=3").json()
    page_two = api.get("/api/v1/pairs/?page_size=3&page=2").json()
    real_history_repo.data_version_bump(exchange="bitfinex")  # what storing a minute does
    page_one_again = api.get("/api/v1/pairs/?page_size=3").json()

    assert page_one["results"] != page_two["results"]
    assert page_one_again == page_one
    assert len(renders) == 3
    assert page_one["next"] == "http://testserver/api/v1/pairs/?page=2&page_size=3"


def test_errors_and_other_formats_of_pairs_are_not_served_from_the_json_cache(api):
    api.get("/api/v1/pairs/")

    bad = api.get("/api/v1/pairs/?ordering=nonsense")
    browsable = api.get("/api/v1/pairs/", HTTP_ACCEPT="text/html")

    assert bad.status_code == 400 and bad.json()["error"]["fields"].keys() == {"ordering"}
    assert browsable.status_code == 200 and browsable["Content-Type"].startswith("text/html")
