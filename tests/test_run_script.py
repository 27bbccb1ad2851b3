"""`make run`'s script and logging: configurable ports, one line per django.request record."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "WEB_PORT", "DYNAMODB_"))}
    env.update(extra)
    return env


@pytest.fixture
def busy_port():
    """A port of 127.0.0.1 something listens on."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


def _run_script(**env: str) -> tuple[int, str]:
    """bin/run's exit status and output; stopped with its process group if it starts servers."""
    process = subprocess.Popen(
        ["bash", "bin/run"],
        cwd=ROOT,
        env=_env(**env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    return process.returncode, output


def test_make_run_serves_the_web_on_web_port_and_refuses_a_busy_one(busy_port):
    # DYNAMODB_ENDPOINT_URL empty: no dynalite to start, so the web port is checked first.
    status, output = _run_script(WEB_PORT=str(busy_port), DYNAMODB_ENDPOINT_URL="")

    assert status != 0
    assert f"port {busy_port} (web server) is already in use" in output


def test_a_refused_make_run_leaves_the_running_ones_metrics_files(busy_port, tmp_path):
    metrics = tmp_path / "prometheus"
    metrics.mkdir()
    (metrics / "counter_123.db").write_bytes(b"the running instance's counters")

    status, output = _run_script(
        WEB_PORT=str(busy_port), DYNAMODB_ENDPOINT_URL="", PROMETHEUS_MULTIPROC_DIR=str(metrics)
    )

    assert status != 0 and "already in use" in output
    assert (metrics / "counter_123.db").read_bytes() == b"the running instance's counters"


def test_make_run_refuses_a_web_port_that_is_not_a_number():
    status, output = _run_script(WEB_PORT="eighty", DYNAMODB_ENDPOINT_URL="")

    assert status != 0
    assert "WEB_PORT=eighty is not a port number" in output


@pytest.mark.parametrize("debug", ["true", "false"])
def test_each_django_request_log_line_appears_once(debug):
    code = (
        "import django, logging; django.setup(); "
        "logging.getLogger('django.request').warning('Not Found: /api/v1/nothing/')"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=_env(
            DJANGO_SETTINGS_MODULE="cryptotracker.settings",
            DJANGO_DEBUG=debug,
            DJANGO_SECRET_KEY="a-test-key-that-is-not-the-public-example",
        ),
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    assert result.stderr.count("Not Found: /api/v1/nothing/") == 1, result.stderr
