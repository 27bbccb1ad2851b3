"""docs/alerts.md documents every request field of rules and channels, and its examples work."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

DOC = (Path(__file__).resolve().parents[2] / "docs" / "alerts.md").read_text()
pytestmark = pytest.mark.django_db


def _request_schema(path: str) -> dict:
    schema = APIClient().get("/api/schema/?format=json").json()
    body = schema["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
    return schema["components"]["schemas"][body["$ref"].rsplit("/", 1)[-1]], schema["components"]["schemas"]


def _section(title: str) -> str:
    start = DOC.index(f"### {title}")
    end = DOC.find("\n#", start + 1)
    return DOC[start:end]


def _enum_values(prop: dict, components: dict) -> list[str]:
    refs = [prop.get("$ref")] + [p.get("$ref") for p in prop.get("oneOf", []) + prop.get("allOf", [])]
    values = []
    for ref in filter(None, refs):
        values += [v for v in components[ref.rsplit("/", 1)[-1]].get("enum", []) if v]
    return values


@pytest.mark.parametrize(
    ("path", "title"),
    [
        ("/api/v1/alerts/rules/", "Request fields: rules"),
        ("/api/v1/alerts/channels/", "Request fields: channels"),
    ],
)
def test_every_request_field_and_value_has_a_row(path, title):
    request, components = _request_schema(path)
    section = _section(title)

    for name, prop in request["properties"].items():
        row = re.search(rf"^\| `{name}` \|(.*)$", section, re.MULTILINE)
        assert row, f"{title}: no row for `{name}`"
        for value in _enum_values(prop, components):
            assert f"`{value}`" in row.group(1), f"{title}: `{name}` does not list `{value}`"
    for name in request.get("required", []):
        assert re.search(rf"^\| `{name}` \| (?:\\\||[^|])+ \| yes \|", section, re.MULTILINE), (
            f"`{name}` is required"
        )


def _examples(kind: str) -> list[dict]:
    blocks = re.findall(rf"<!-- example: {kind} -->\n```json\n(.*?)```", DOC, re.DOTALL)
    return [json.loads(block) for block in blocks]


def test_the_documented_examples_are_accepted_by_the_api(alice, configured_repo, resolve_to):
    resolve_to({"hooks.example.org": "93.184.215.14"})
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=alice).key}")
    rules, channels = _examples("rule"), _examples("channel")

    created = [client.post("/api/v1/alerts/channels/", body, format="json") for body in channels]
    created += [client.post("/api/v1/alerts/rules/", body, format="json") for body in rules]

    assert len(rules) >= 2 and len(channels) >= 2
    assert [r.status_code for r in created] == [201] * len(created), [r.json() for r in created]


def test_the_docs_say_how_a_user_gets_an_api_token():
    section = _section("API token")

    for way in ("/accounts/token/", "/admin/", "drf_create_token"):
        assert way in section


def test_the_inline_examples_of_the_kinds_are_accepted_by_the_api(alice, configured_repo):
    section = _section("Examples of the kinds beyond levels")
    bodies = [json.loads(span) for span in re.findall(r"`(\{\"name\".*?\})`", section, re.DOTALL)]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=alice).key}")

    created = [client.post("/api/v1/alerts/rules/", body, format="json") for body in bodies]

    assert {body["condition"] for body in bodies} >= {"zscore", "volatility_rank", "pct_change"}
    assert [r.status_code for r in created] == [201] * len(created), [r.json() for r in created]
