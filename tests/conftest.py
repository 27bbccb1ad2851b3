"""Shared fixtures: tick repositories and the loopback DynamoDB-protocol servers they talk to."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from moto import mock_aws
from moto.server import ThreadedMotoServer

from prices.repository.base import RepositoryError
from prices.repository.dynamodb import DynamoTickRepository
from prices.repository.memory import InMemoryTickRepository

ROOT = Path(__file__).resolve().parent.parent
DYNALITE = ROOT / "node_modules" / ".bin" / "dynalite"
TEST_REGION = "us-east-1"


# --- repositories ------------------------------------------------------------------------


@pytest.fixture
def memory_repo() -> InMemoryTickRepository:
    """A fresh InMemoryTickRepository."""
    return InMemoryTickRepository()


@pytest.fixture
def mock_aws_repo() -> Iterator[DynamoTickRepository]:
    """A DynamoTickRepository on moto's in-process mock_aws (no sockets), tables created."""
    with mock_aws():
        repo = DynamoTickRepository(table_prefix="test_", region=TEST_REGION)
        repo.ensure_tables()
        yield repo


DynamoRepoFactory = Callable[[str], DynamoTickRepository]


@pytest.fixture
def dynamo_repo_factory() -> Iterator[DynamoRepoFactory]:
    """Make a DynamoTickRepository on a server's endpoint URL, with throw-away tables.

    Each repository gets a unique table prefix and its tables are created by
    `ensure_tables()`, the code behind `manage.py ensure_tables`; they are dropped afterwards.
    """
    made: list[DynamoTickRepository] = []

    def make(endpoint_url: str) -> DynamoTickRepository:
        repo = DynamoTickRepository(
            table_prefix=f"test_{uuid.uuid4().hex[:12]}_",
            region=TEST_REGION,
            endpoint_url=endpoint_url,
            connect_timeout_s=2,
            read_timeout_s=30,
        )
        repo.ensure_tables()
        made.append(repo)
        return repo

    yield make
    for repo in made:
        with contextlib.suppress(RepositoryError):
            repo.delete_tables()


@pytest.fixture
def memory_configured_repo(monkeypatch) -> InMemoryTickRepository:
    """An empty in-memory repository that views and commands get from get_tick_repository()."""
    from django.core.cache import cache

    repo = InMemoryTickRepository()
    monkeypatch.setattr("prices.repository._repository", lambda *args: repo)
    cache.clear()
    return repo


# --- loopback DynamoDB-protocol servers (session-scoped; yield their endpoint URL) -----------


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """moto's ThreadedMotoServer on a free port of 127.0.0.1, in this process."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="session")
def dynalite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """dynalite (the local DynamoDB of `make run`) on a free port of 127.0.0.1, in memory."""
    if not DYNALITE.exists():
        pytest.fail(
            f"{DYNALITE.relative_to(ROOT)} is missing: run `make test` (or `npm ci`) to install dynalite",
            pytrace=False,
        )
    port = _free_port()
    log_path = tmp_path_factory.mktemp("dynalite") / "dynalite.log"
    with log_path.open("wb") as log:
        # Tables become ACTIVE at once instead of after dynalite's default 500 ms.
        process = subprocess.Popen(
            [str(DYNALITE), "--host", "127.0.0.1", "--port", str(port), "--createTableMs", "0",
             "--deleteTableMs", "0", "--updateTableMs", "0"],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )  # fmt: skip
    try:
        _wait_for_port(port, process, log_path)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_port(port: int, process: subprocess.Popen, log_path: Path, timeout_s: float = 15) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"dynalite exited with {process.returncode}: {log_path.read_text()}", pytrace=False)
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    pytest.fail(f"dynalite did not listen on 127.0.0.1:{port} within {timeout_s} s", pytrace=False)


# --- alerts: the ticks_stored receiver -------------------------------------------------------


@pytest.fixture(autouse=True, scope="session")
def _alerts_receiver_disconnected() -> Iterator[None]:
    """Storing ticks in a test does not enqueue alert evaluations unless it asks for `alerts_receiver`."""
    from alerts.receivers import on_ticks_stored
    from prices.signals import ticks_stored

    ticks_stored.disconnect(dispatch_uid="alerts.on_ticks_stored")
    yield
    ticks_stored.connect(on_ticks_stored, dispatch_uid="alerts.on_ticks_stored")


@pytest.fixture
def alerts_receiver(_alerts_receiver_disconnected: None) -> Iterator[None]:
    """Reconnect the alerts app's ticks_stored receiver for this test."""
    from alerts.receivers import on_ticks_stored
    from prices.signals import ticks_stored

    ticks_stored.connect(on_ticks_stored, dispatch_uid="alerts.on_ticks_stored")
    yield
    ticks_stored.disconnect(dispatch_uid="alerts.on_ticks_stored")
