"""Two real processes evaluating the same minute and sending its deliveries at once: nothing twice.

The processes share the test database (a file SQLite DB with BEGIN IMMEDIATE, or PostgreSQL
with row locks when DATABASE_URL is set) and read prices from dynalite on 127.0.0.1.
"""

from __future__ import annotations

import json
import subprocess
from decimal import Decimal

import pytest

from alerts.models import AlertEvent, AlertRule, Delivery, NotificationChannel
from prices.services import history_store
from tests.alerts.helpers import minute, ticks
from tests.alerts.processes import PYTHON, ROOT, SmtpSink, process_env, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(240)]
PAIRS = ["BTCUSD", "ETHUSD", "LTCUSD", "XRPUSD", "EOSUSD"]


@pytest.fixture
def smtp():
    sink = SmtpSink()
    sink.start()
    yield sink
    sink.stop()


def test_two_processes_evaluating_one_minute_record_and_send_everything_once(
    transactional_db, django_user_model, dynalite_server, dynamo_repo_factory, smtp, tmp_path
):
    repo = dynamo_repo_factory(dynalite_server)
    for pair in PAIRS:
        history_store(ticks=ticks(pair, [100, 101, 102]), repo=repo)
    alice = django_user_model.objects.create_user("alice", email="alice@example.org")
    channel = NotificationChannel.objects.create(
        owner=alice, kind="email", target="alice@example.org", verified=True
    )
    for pair in PAIRS:
        for i in range(20):
            for condition in ("price_above", "price_below"):  # above 90 fires; below 90 does not
                rule = AlertRule.objects.create(
                    owner=alice,
                    name=f"{pair} {condition} {i}",
                    pair=pair,
                    condition=condition,
                    threshold=Decimal(90),
                )
                rule.channels.add(channel)
    AlertRule.objects.update(created_at=minute(-60))  # the rules exist since before the minutes judged
    env = process_env(
        dynamodb_endpoint=dynalite_server,
        table_prefix=repo.ticks_table.removesuffix("ticks"),
        smtp_port=smtp.port,
    )
    workers = [
        subprocess.Popen(
            [PYTHON, "-m", "tests.alerts.evaluate_worker", str(tmp_path), minute(2).isoformat(), name],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("a", "b")
    ]
    try:
        wait_until(
            lambda: all((tmp_path / f"ready-{n}").exists() for n in "ab"), timeout_s=60, what="workers ready"
        )
        (tmp_path / "go").touch()
        wait_until(
            lambda: all((tmp_path / f"evaluated-{n}").exists() for n in "ab"),
            timeout_s=60,
            what="evaluations",
        )
        (tmp_path / "send").touch()
        outputs = [worker.communicate(timeout=120) for worker in workers]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
    assert [w.returncode for w in workers] == [0, 0], [err for _, err in outputs]
    results = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]

    assert sum(r["events"] for r in results) == 100
    assert sum(r["rules"] for r in results) == 200  # each rule evaluated by exactly one process
    assert AlertEvent.objects.count() == 100
    assert set(AlertEvent.objects.values_list("minute", flat=True)) == {minute(2)}
    assert sum(r.get("sent", 0) for r in results) == 100
    assert set(Delivery.objects.values_list("status", "attempts")) == {("sent", 1)}
    messages = wait_until(
        lambda: len(smtp.received()) >= 100 and smtp.received(), timeout_s=10, what="100 emails"
    )
    assert len(messages) == 100
    assert len({m["Subject"] for m in messages}) == 100  # one email per rule, none twice
