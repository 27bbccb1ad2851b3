"""manage.py bench_http: cached `pairs/` under gunicorn (2 workers), driven with keep-alive requests.

A benchmark, not a test. In a throw-away table prefix on the configured local DynamoDB
endpoint it stores what `pairs/` reads for N pairs (the registry and the published live 24 h
statistics, as the poll leaves them), starts gunicorn with `--workers` workers on
127.0.0.1:`--port` (DEBUG off, plain http, rate limits off: the server is measured, not its
limits), fills each worker's cache, then drives GET /api/v1/pairs/ for `--seconds` from
separate processes over keep-alive connections: with `wrk` when it is installed
(`apt-get install wrk`), else with `--clients` Python processes (prices/bench_http_client.py).
It prints req/s, the CPU the gunicorn workers used per request, the load average and issue
11's target line, then stops gunicorn and drops the tables (unless --keep). gunicorn uses the
configured relational database (`manage.py migrate` first) and the process environment's
settings, e.g. PRICES_CACHE_VERSION_TTL_S; its static files are collected into a temporary
DJANGO_STATIC_ROOT first, as a deploy collects them. gunicorn logs only warnings and errors,
so the output is the figures and whatever went wrong.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.test import override_settings

from prices.bench_http_client import drive
from prices.domain import EXCHANGE_BITFINEX, MINUTE_MS, to_ms
from prices.management.commands._cli import (
    repository_errors,
    require_at_least,
    require_free_port,
    require_migrated,
    sigterm_raises,
)
from prices.management.commands.bench_api import local_server_pid
from prices.repository import LatestPrice, _repository, get_tick_repository
from prices.rollups import LIVE_WINDOWS, LiveWindow
from prices.statistics import WindowStats, segment_of

PATH = "/api/v1/pairs/"
TARGET_RPS = 1000
STOP_TIMEOUT_S = 40  # gunicorn's graceful timeout (30 s) plus its own exit


def _ticks_s(pids: list[int]) -> float:
    """User + system CPU seconds of the processes (Linux /proc)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


class Command(BaseCommand):
    help = "Benchmark cached pairs/ under gunicorn with N workers (req/s over keep-alive connections)."

    def add_arguments(self, parser):
        parser.add_argument("--pairs", type=int, default=300)
        parser.add_argument("--workers", type=int, default=2, help="gunicorn workers.")
        parser.add_argument("--port", type=int, default=18765)
        parser.add_argument("--seconds", type=float, default=10.0, help="Length of the measurement.")
        parser.add_argument("--connections", type=int, default=8, help="Keep-alive connections (wrk).")
        parser.add_argument("--clients", type=int, default=2, help="Client processes without wrk.")
        parser.add_argument("--client", choices=["auto", "wrk", "python"], default="auto")
        parser.add_argument("--keep", action="store_true", help="Keep the benchmark tables.")

    def handle(self, *args, **options):
        require_at_least(options, {"pairs": 1, "workers": 1, "seconds": 1, "connections": 1, "clients": 1})
        if not settings.DYNAMODB_ENDPOINT_URL:
            raise CommandError(
                "DYNAMODB_ENDPOINT_URL is empty: point it at dynalite (make run) or another local endpoint"
            )
        require_migrated()  # the pages read pair states from the database
        client = options["client"]
        if client == "auto":
            client = "wrk" if shutil.which("wrk") else "python"
        if client == "wrk" and not shutil.which("wrk"):
            raise CommandError("wrk is not installed (apt-get install wrk), or use --client python")
        # gunicorn only logs a port it cannot bind, and the bench would measure whatever answers.
        require_free_port(options["port"])
        prefix = f"bench_{uuid.uuid4().hex[:8]}_"
        # A kill stops gunicorn and drops the tables too (gunicorn runs in its own session).
        with sigterm_raises(), override_settings(DYNAMODB_TABLE_PREFIX=prefix), repository_errors():
            _repository.cache_clear()
            repo = get_tick_repository()
            try:  # from the first table created: a failure part-way still drops them
                repo.ensure_tables()
                self._seed(repo, options["pairs"])
                with tempfile.TemporaryDirectory(prefix="bench-http-static-") as static_root:
                    # The server is configured as deployed, static files included (WhiteNoise
                    # warns at start-up about a missing STATIC_ROOT); pairs/ never reads them.
                    with override_settings(STATIC_ROOT=static_root):
                        call_command("collectstatic", interactive=False, verbosity=0)
                    self._run(prefix, client, options, static_root=static_root)
            finally:
                if not options["keep"]:
                    repo.delete_tables()
                _repository.cache_clear()

    def _seed(self, repo, pairs: int) -> None:
        newest = to_ms(datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=2))
        names = [f"B{i:05d}:TESTUSD" for i in range(pairs)]
        price = Decimal("7240.1")
        repo.update_latest(exchange=EXCHANGE_BITFINEX, prices={n: LatestPrice(newest, price) for n in names})
        for window in LIVE_WINDOWS:
            points = [(newest - i * MINUTE_MS, price + i % 7) for i in range(window)]
            stats = WindowStats.of(segment_of(points), expected=window)
            repo.put_live(
                LiveWindow(EXCHANGE_BITFINEX, window, newest + MINUTE_MS, dict.fromkeys(names, stats))
            )
        repo.data_version_bump(exchange=EXCHANGE_BITFINEX)

    def _run(self, prefix: str, client: str, options, *, static_root: str) -> None:
        port, workers = options["port"], options["workers"]
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "cryptotracker.settings",
            "DYNAMODB_ENDPOINT_URL": settings.DYNAMODB_ENDPOINT_URL,
            "DYNAMODB_TABLE_PREFIX": prefix,
            "DJANGO_DEBUG": "false",
            "DJANGO_HTTPS": "false",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(40),
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DJANGO_STATIC_ROOT": static_root,
            "API_THROTTLE_ANON": "",
            "API_THROTTLE_USER": "",
        }
        command = [
            sys.executable, "-m", "gunicorn", "cryptotracker.wsgi:application",
            "--workers", str(workers), "--bind", f"127.0.0.1:{port}", "--keep-alive", "60",
            "--log-level", "warning",
        ]  # fmt: skip
        server = subprocess.Popen(command, env=env, cwd=settings.BASE_DIR, start_new_session=True)
        try:
            url = f"http://127.0.0.1:{port}{PATH}"
            self._wait_ready(url, server)
            worker_pids = self._children(server.pid)
            for _ in range(20 * workers):  # every worker's first request fills its cache
                urllib.request.urlopen(url, timeout=30).read()
            cpu_before = _ticks_s(worker_pids)
            if client == "wrk":
                ok, other, seconds = self._wrk(url, options)
            else:
                ok, other, seconds = drive(
                    host="127.0.0.1",
                    port=port,
                    path=PATH,
                    seconds=options["seconds"],
                    processes=options["clients"],
                )
            cpu = _ticks_s(worker_pids) - cpu_before
        finally:
            self._stop(server)
        rps = ok / seconds
        load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
        self.stdout.write(
            f"pairs/ cached, gunicorn {workers} workers, {options['pairs']:,} pairs, client {client}: "
            f"{rps:,.0f} req/s ({ok:,} responses 200, {other:,} others in {seconds:.1f} s); "
            f"gunicorn CPU {cpu * 1000 / max(ok, 1):.2f} ms per request; load average {load}"
        )
        self.stdout.write(
            f"  [{'ok' if rps >= TARGET_RPS else 'MISSED'}] pairs/ cached, gunicorn {workers} workers "
            f"≥ {TARGET_RPS:,} req/s: {rps:,.0f}"
        )

    @staticmethod
    def _stop(server: subprocess.Popen) -> None:
        """gunicorn's graceful stop: SIGTERM to the arbiter only, which stops its workers.

        (A SIGTERM to the whole process group reached a worker a second time, from the arbiter,
        while it was already exiting, which gunicorn logs as "Worker ... was sent SIGTERM!")
        """
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=10)
            raise CommandError(f"gunicorn did not stop within {STOP_TIMEOUT_S} s; killed it") from None

    def _wait_ready(self, url: str, server: subprocess.Popen) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise CommandError(f"gunicorn exited with {server.returncode}")
            try:
                with urllib.request.urlopen(url, timeout=10) as response:
                    status = response.status
            except OSError:
                time.sleep(0.2)
                continue
            if status == 200:
                self._require_own_listener(url, server)
                return
        raise CommandError("gunicorn did not answer within 60 s")

    @staticmethod
    def _require_own_listener(url: str, server: subprocess.Popen) -> None:
        """CommandError unless the process listening on the port is this gunicorn (its session)."""
        pid = local_server_pid(url)
        try:
            ours = pid is not None and os.getsid(pid) == server.pid  # start_new_session=True
        except OSError:
            ours = False
        if not ours:
            raise CommandError(f"another process (pid {pid}) answers on {url}, not the gunicorn started")

    @staticmethod
    def _children(pid: int) -> list[int]:
        try:
            with open(f"/proc/{pid}/task/{pid}/children") as children:
                return [pid, *(int(p) for p in children.read().split())]
        except OSError:
            return [pid]

    def _wrk(self, url: str, options) -> tuple[int, int, float]:
        seconds = options["seconds"]
        try:
            result = subprocess.run(
                ["wrk", "-t2", f"-c{options['connections']}", f"-d{seconds:g}s", url],
                capture_output=True, text=True, check=True, timeout=seconds + 60,
            )  # fmt: skip
        except subprocess.CalledProcessError as exc:
            message = (exc.stderr or exc.stdout or "").strip().splitlines()
            raise CommandError(f"wrk exited with {exc.returncode}: {message[0] if message else ''}") from None
        requests = re.search(r"(\d+) requests in ([\d.]+)(m?s)", result.stdout)
        if requests is None:
            raise CommandError(f"cannot read wrk's output:\n{result.stdout}")
        other = re.search(r"Non-2xx or 3xx responses: (\d+)", result.stdout)
        bad = int(other.group(1)) if other else 0
        took = float(requests.group(2)) / (1000 if requests.group(3) == "ms" else 1)
        return int(requests.group(1)) - bad, bad, took
