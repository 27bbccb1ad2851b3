"""A separate process for test_concurrency: evaluate one minute, then send every due delivery.

Usage: python -m tests.alerts.evaluate_worker BARRIER_DIR MINUTE NAME (Django settings from the
environment). It waits for BARRIER_DIR/go before evaluating and for BARRIER_DIR/send before
sending, so that two workers do each step at the same moment, and prints one JSON line.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime
from pathlib import Path


def _wait_for(path: Path, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        if time.monotonic() > deadline:
            raise SystemExit(f"{path} did not appear within {timeout_s} s")
        time.sleep(0.01)


def main() -> None:
    barrier, minute, name = Path(sys.argv[1]), datetime.fromisoformat(sys.argv[2]), sys.argv[3]
    import django

    django.setup()
    from alerts.deliveries import deliveries_due, deliveries_send
    from alerts.evaluation import alert_rules_evaluate

    (barrier / f"ready-{name}").touch()
    _wait_for(barrier / "go")
    summary = alert_rules_evaluate(minute=minute, enqueue=lambda ids: None)
    (barrier / f"evaluated-{name}").touch()
    _wait_for(barrier / "send")
    outcomes = deliveries_send(delivery_ids=deliveries_due())
    print(
        json.dumps(
            {"rules": summary.rules, "events": summary.events, "deliveries": summary.deliveries, **outcomes}
        )
    )


if __name__ == "__main__":
    main()
