"""Shared helpers of the commands: datetime and numeric options, free ports, progress bars,
repository errors, the migrated-database check."""

from __future__ import annotations

import logging
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from django.core.management.base import CommandError
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from tqdm import tqdm

from prices.repository import RepositoryError


def parse_cli_datetime(raw: str | None, option: str) -> datetime | None:
    """An ISO 8601 option value as aware UTC (naive means UTC); None when absent.

    Raises CommandError with one readable line naming the option.
    """
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise CommandError(
            f"{option} {raw!r} is not an ISO 8601 datetime such as 2019-12-31T00:00:00Z"
        ) from None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)


def cli_pairs(exchange: str, names: list[str] | None) -> list[str] | None:
    """`--pair` values as `exchange`'s pair names (upper-cased; Bitfinex's as Pair.parse gives them).

    None stays None (every tracked pair). Raises CommandError naming a name that is not in the
    exchange's notation (prices.exchanges.valid_pair) or an exchange that is not configured.
    """
    from prices.domain import EXCHANGE_BITFINEX, InvalidPairError, Pair
    from prices.exchanges import UnknownExchangeError, exchange_config, valid_pair

    if exchange != EXCHANGE_BITFINEX:
        try:
            exchange_config(exchange)
        except UnknownExchangeError as exc:
            raise CommandError(str(exc)) from exc
    if not names:
        return None
    pairs = []
    for raw in names:
        name = raw.strip().upper()
        if exchange == EXCHANGE_BITFINEX:
            try:
                name = Pair.parse(name).name
            except InvalidPairError as exc:
                raise CommandError(str(exc)) from exc
        elif not valid_pair(exchange, name):
            raise CommandError(f"--pair {raw!r} is not a pair name of {exchange}")
        pairs.append(name)
    return pairs


def add_exchange_argument(parser: object) -> None:
    """The `--exchange` option of the per-exchange commands (default bitfinex)."""
    parser.add_argument(  # type: ignore[attr-defined]
        "--exchange", default="bitfinex", help="A configured exchange (PRICES_EXCHANGES); default bitfinex."
    )


def require_at_least(options: dict, minimums: dict[str, float]) -> None:
    """CommandError (one line naming the option) unless each option is at least its minimum."""
    for name, minimum in minimums.items():
        if options[name] < minimum:
            option = "--" + name.replace("_", "-")
            raise CommandError(f"{option} must be at least {minimum:g}, not {options[name]:g}")


def require_free_port(port: int) -> None:
    """CommandError (one line) unless `port` is 1–65535 and free to bind on 127.0.0.1."""
    if not 1 <= port <= 65535:
        raise CommandError(f"--port must be 1–65535, not {port}")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # SO_REUSEADDR as gunicorn binds: a connection left in TIME_WAIT is no conflict, a
        # listener (on 127.0.0.1 or 0.0.0.0) is.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            raise CommandError(
                f"--port {port}: 127.0.0.1:{port} is already in use ({exc.strerror}); choose another port"
            ) from None


@contextmanager
def benchmark_tables(*, keep: bool) -> Iterator[object]:
    """The configured repository (a benchmark's throw-away DYNAMODB_TABLE_PREFIX set by the
    caller), its tables created; dropped on the way out unless `keep`. One line if creating fails."""
    from django.core.cache import cache

    from prices.repository import _repository, get_tick_repository

    _repository.cache_clear()
    cache.clear()
    repo = get_tick_repository()
    try:
        repo.ensure_tables()
    except RepositoryError as exc:
        raise CommandError(f"cannot create benchmark tables: {exc}") from exc
    try:
        yield repo
    finally:
        if not keep:
            repo.delete_tables()
        _repository.cache_clear()
        cache.clear()


@contextmanager
def prices_logs_quiet(verbosity: int) -> Iterator[None]:
    """Below -v 2, only warnings and errors of the `prices` loggers inside the block.

    A command that prints its own line per minute or file (a benchmark, a soak, an import)
    would otherwise print each twice, the INFO log line interleaved with its own.
    """
    prices_logger = logging.getLogger("prices")
    level = prices_logger.level
    if verbosity < 2:
        prices_logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        prices_logger.setLevel(level)


@contextmanager
def sigterm_raises() -> Iterator[None]:
    """Inside the block SIGTERM raises SystemExit(143), so `finally` cleanup runs.

    The default SIGTERM ends the process at once: a child started in a session of its own (a
    benchmark's gunicorn) would be orphaned and throw-away tables left. Main thread only
    (signal handlers can be set nowhere else); elsewhere the block runs unchanged.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signum, frame):
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def repository_errors() -> Iterator[None]:
    """Turn a RepositoryError inside the block into a CommandError with its one-line message."""
    try:
        yield
    except RepositoryError as exc:
        raise CommandError(str(exc)) from exc


def require_migrated() -> None:
    """CommandError (one line: what to run) unless every migration is applied."""
    executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
    if executor.migration_plan(executor.loader.graph.leaf_nodes()):
        raise CommandError(
            "the database has unapplied migrations: run `.venv/bin/python manage.py migrate` "
            "(make run does it) first"
        )


@contextmanager
def progress_bar(
    *, total: int | None, unit: str, desc: str, verbosity: int
) -> Iterator[Callable[[int], None]]:
    """Yield an `advance(n)` callable drawing a tqdm bar on stderr (silent at verbosity 0)."""
    bar = tqdm(total=total, unit=unit, desc=desc, file=sys.stderr, disable=verbosity == 0, dynamic_ncols=True)
    try:
        yield bar.update
    finally:
        bar.close()
