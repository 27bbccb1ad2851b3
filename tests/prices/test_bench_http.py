"""bench_http runs end to end: gunicorn with 2 workers, a keep-alive client, req/s and the target line."""

import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import time
from io import StringIO
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from prices.bench_http_client import drive
from prices.management.commands._cli import sigterm_raises
from prices.management.commands.bench_http import Command
from prices.repository import RepositoryError, _repository, get_tick_repository
from prices.repository.dynamodb import DynamoTickRepository
from tests.conftest import _free_port

pytestmark = [pytest.mark.integration, pytest.mark.django_db]
ROOT = Path(__file__).resolve().parents[2]


def test_bench_http_serves_cached_pairs_from_gunicorn_and_prints_req_per_s(
    dynalite_server, settings, tmp_path, monkeypatch, capfd
):
    # gunicorn runs the real settings, so it gets a database of its own, migrated.
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'web.sqlite3'}")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "cryptotracker.settings"}
    migrate = [sys.executable, "manage.py", "migrate", "-v0"]
    subprocess.run(migrate, cwd=ROOT, env=env, check=True, timeout=300)
    capfd.readouterr()
    settings.DYNAMODB_ENDPOINT_URL = dynalite_server
    _repository.cache_clear()
    out = StringIO()

    try:
        call_command(
            "bench_http",
            *("--pairs", "5", "--seconds", "1", "--client", "python", "--clients", "1"),
            *("--port", str(_free_port())),
            stdout=out,
        )
    finally:
        _repository.cache_clear()

    text = out.getvalue()
    assert "pairs/ cached, gunicorn 2 workers, 5 pairs, client python:" in text
    assert " 0 others in " in text
    assert "pairs/ cached, gunicorn 2 workers ≥ 1,000 req/s:" in text
    # Only the figures: gunicorn's start and stop lines, its SIGTERM error of a worker stopped
    # twice and WhiteNoise's missing-STATIC_ROOT warning are not printed.
    printed = capfd.readouterr()
    assert "[INFO]" not in printed.err and "[ERROR]" not in printed.err
    assert "No directory at" not in printed.err
    assert printed.err.strip() == ""


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--workers", "0", "--workers must be at least 1, not 0"),
        ("--seconds", "0", "--seconds must be at least 1, not 0"),
        ("--pairs", "0", "--pairs must be at least 1, not 0"),
        ("--connections", "0", "--connections must be at least 1, not 0"),
        ("--clients", "0", "--clients must be at least 1, not 0"),
        ("--port", "99999", "--port must be 1–65535, not 99999"),
        ("--port", "0", "--port must be 1–65535, not 0"),
    ],
)
def test_bench_http_refuses_an_out_of_range_number_in_one_line(option, value, message, settings):
    settings.DYNAMODB_ENDPOINT_URL = "http://127.0.0.1:9"  # never reached: the check comes first

    with pytest.raises(CommandError) as raised:
        call_command("bench_http", "--client", "python", option, value, stdout=StringIO())

    assert str(raised.value) == message


def test_bench_http_refuses_a_port_already_in_use_before_starting_anything(settings):
    settings.DYNAMODB_ENDPOINT_URL = "http://127.0.0.1:9"  # never reached: the check comes first
    with socket.socket() as other_server:
        other_server.bind(("127.0.0.1", 0))
        other_server.listen()
        port = other_server.getsockname()[1]

        with pytest.raises(CommandError, match=rf"^--port {port}: 127.0.0.1:{port} is already in use"):
            call_command("bench_http", "--client", "python", "--port", str(port), stdout=StringIO())


def test_a_server_answering_that_is_not_the_started_gunicorn_is_refused():
    with socket.socket() as other_server:
        other_server.bind(("127.0.0.1", 0))
        other_server.listen()
        url = f"http://127.0.0.1:{other_server.getsockname()[1]}/api/v1/pairs/"
        started = SimpleNamespace(pid=os.getsid(0) + 1_000_000)  # no session of this process

        with pytest.raises(CommandError, match=r"another process \(pid \d+\) answers on"):
            Command._require_own_listener(url, started)


def test_bench_http_drops_its_tables_when_creating_them_fails_part_way(
    dynalite_server, settings, monkeypatch
):
    settings.DYNAMODB_ENDPOINT_URL = dynalite_server
    _repository.cache_clear()
    create = DynamoTickRepository.ensure_tables

    def create_then_fail(self):
        create(self)
        raise RepositoryError("ensure_tables: throttled")

    monkeypatch.setattr(DynamoTickRepository, "ensure_tables", create_then_fail)

    try:
        with pytest.raises(CommandError, match="throttled"):
            call_command("bench_http", "--client", "python", "--port", str(_free_port()), stdout=StringIO())
    finally:
        _repository.cache_clear()

    listed = get_tick_repository().client.list_tables()["TableNames"]
    _repository.cache_clear()
    assert [name for name in listed if name.startswith("bench_")] == []


def test_a_sigterm_during_the_bench_raises_so_its_cleanup_runs():
    previous = signal.getsignal(signal.SIGTERM)
    cleaned = []

    with pytest.raises(SystemExit) as exited, sigterm_raises():
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
        finally:
            cleaned.append("gunicorn stopped, tables dropped")

    assert exited.value.code == 143
    assert cleaned == ["gunicorn stopped, tables dropped"]
    assert signal.getsignal(signal.SIGTERM) is previous


def test_an_interrupted_python_client_leaves_no_client_process_behind():
    def interrupt(signum, frame):
        raise SystemExit(143)

    previous = signal.signal(signal.SIGALRM, interrupt)
    with socket.socket() as silent_server:  # accepts (backlog), never answers
        silent_server.bind(("127.0.0.1", 0))
        silent_server.listen()
        port = silent_server.getsockname()[1]
        signal.alarm(3)  # the clients are started, waiting for a response

        try:
            with pytest.raises(SystemExit):
                drive(host="127.0.0.1", port=port, path="/", seconds=30, processes=2)
        finally:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, previous)

    assert multiprocessing.active_children() == []
