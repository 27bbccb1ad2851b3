"""The contract suite's repositories: in memory, and DynamoTickRepository on moto and dynalite."""

from __future__ import annotations

import pytest

from prices.repository.dynamodb import DynamoTickRepository

# Each name is a fixture in tests/conftest.py: a repository, or a server's endpoint URL.
DYNAMO_BACKENDS = [
    "mock_aws_repo",
    pytest.param("moto_server", marks=pytest.mark.integration),
    pytest.param("dynalite_server", marks=pytest.mark.integration),
]


def _make(backend: str, request: pytest.FixtureRequest):
    if backend.endswith("_repo"):
        return request.getfixturevalue(backend)
    return request.getfixturevalue("dynamo_repo_factory")(request.getfixturevalue(backend))


@pytest.fixture(params=["memory_repo", *DYNAMO_BACKENDS])
def repo(request: pytest.FixtureRequest):
    return _make(request.param, request)


@pytest.fixture(params=DYNAMO_BACKENDS)
def dynamo_repo(request: pytest.FixtureRequest) -> DynamoTickRepository:
    return _make(request.param, request)
