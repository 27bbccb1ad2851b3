"""Helpers for alerts tests that run real processes: environment, shared database URL, SMTP sink, polling."""

from __future__ import annotations

import email
import email.policy
import os
import socket
import sys
import threading
import time
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.controller import Controller
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent.parent
PYTHON = sys.executable


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def shared_database_url() -> str:
    """DATABASE_URL of the test database this process uses (a file SQLite DB or PostgreSQL)."""
    conf = connection.settings_dict
    if conf["ENGINE"] == "django.db.backends.sqlite3":
        name = str(conf["NAME"])
        assert not name.startswith(("file:", ":memory:")), (
            "the alerts process tests need a file test database"
        )
        return f"sqlite:///{name}"
    if conf["ENGINE"] == "django.db.backends.postgresql":
        auth = conf["USER"] + (f":{conf['PASSWORD']}" if conf.get("PASSWORD") else "")
        return f"postgres://{auth}@{conf['HOST'] or '127.0.0.1'}:{conf['PORT'] or 5432}/{conf['NAME']}"
    raise AssertionError(f"unsupported test database engine {conf['ENGINE']}")


def process_env(*, dynamodb_endpoint: str, table_prefix: str, smtp_port: int, **extra: str) -> dict[str, str]:
    """Environment for a manage.py-style process on the production settings, sharing the test's
    database, DynamoDB tables and SMTP server; django-q2 on the ORM broker (never Redis)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "PYTEST_"))}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "cryptotracker.settings",
            "DJANGO_DEBUG": "true",
            "DJANGO_SECRET_KEY": "test-secret-key-not-for-production",
            "DATABASE_URL": shared_database_url(),
            "REDIS_URL": "",
            "DYNAMODB_ENDPOINT_URL": dynamodb_endpoint,
            "DYNAMODB_TABLE_PREFIX": table_prefix,
            "AWS_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "BITFINEX_API_URL": "http://127.0.0.1:9",
            "PRICES_PAIRS": "",
            "EMAIL_URL": f"smtp://127.0.0.1:{smtp_port}",
            "EMAIL_TIMEOUT_S": "5",
            "SITE_URL": "http://127.0.0.1:8000",
            "ALERTS_FROM_EMAIL": "alerts@cryptotracker.test",
            "ALERTS_STALE_MINUTES": "5",
            "ALERTS_CATCH_UP_MINUTES": "15",
            "ALERTS_INGEST_GRACE_S": "90",
            "ALERTS_DELIVERY_MAX_ATTEMPTS": "8",
            "ALERTS_DELIVERY_BACKOFF_S": "1",
            "ALERTS_DELIVERY_BACKOFF_MAX_S": "2",
            "Q_WORKERS": "2",
            "LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env


class SmtpSink:
    """An aiosmtpd SMTP server on 127.0.0.1:`port` keeping every message; start/stop at will."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.messages: list[EmailMessage] = []
        self._lock = threading.Lock()
        self._controller: Controller | None = None

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd hook name)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._lock:
            self.messages.append(message)
        return "250 OK"

    def start(self) -> None:
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def received(self) -> list[EmailMessage]:
        with self._lock:
            return list(self.messages)


def wait_until(condition: Callable[[], object], *, timeout_s: float, what: str, interval_s: float = 0.1):
    """Poll `condition` until it returns something truthy (returned) or fail after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(interval_s)
