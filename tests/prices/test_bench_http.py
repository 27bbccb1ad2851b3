"""bench_http runs end to end: gunicorn with 2 workers, a keep-alive client, req/s and the target line."""

import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from prices.repository import _repository
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
