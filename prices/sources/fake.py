"""Fake exchange sources for tests: canned TickerBatches / SourceErrors and in-memory candles."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from prices.domain import EXCHANGE_BITFINEX, to_ms
from prices.sources.base import Candle, SourceError, TickerBatch


class FakeTickerSource:
    """A TickerSource that returns (or raises) its canned items in order, one per call.

    Each item is a TickerBatch (returned) or a SourceError (raised). `calls` counts calls;
    calling past the last item fails the test with AssertionError.
    """

    def __init__(
        self, batches_or_errors: Iterable[TickerBatch | SourceError], *, exchange: str = EXCHANGE_BITFINEX
    ) -> None:
        self.exchange = exchange
        self._queue: deque[TickerBatch | SourceError] = deque(batches_or_errors)
        self.calls = 0

    def fetch_tickers(self) -> TickerBatch:
        """The next canned batch; raises the next canned SourceError."""
        self.calls += 1
        if not self._queue:
            raise AssertionError(f"FakeTickerSource: no canned batch left for call {self.calls}")
        item = self._queue.popleft()
        if isinstance(item, SourceError):
            raise item
        return item


@dataclass(frozen=True, slots=True)
class CandleCall:
    """One recorded FakeCandleSource.fetch_candles call."""

    pair: str
    start: datetime
    end: datetime


class FakeCandleSource:
    """A CandleSource over in-memory candles per pair, honouring start ≤ minute < end.

    `errors` are raised, in order, by the first calls (one per call) before any data is
    returned. `calls` records every call. Unknown pairs have no candles.
    """

    def __init__(
        self,
        candles_by_pair: Mapping[str, Iterable[Candle]],
        *,
        errors: Iterable[SourceError] = (),
        exchange: str = EXCHANGE_BITFINEX,
    ) -> None:
        self.exchange = exchange
        self._candles = {
            pair: sorted(candles, key=lambda candle: candle.minute)
            for pair, candles in candles_by_pair.items()
        }
        self._errors: deque[SourceError] = deque(errors)
        self.calls: list[CandleCall] = []

    def fetch_candles(self, *, pair: str, start: datetime, end: datetime) -> list[Candle]:
        """Candles of `pair` with start ≤ minute < end, oldest first; raises a queued SourceError."""
        self.calls.append(CandleCall(pair=pair, start=start, end=end))
        if self._errors:
            raise self._errors.popleft()
        start_ms, end_ms = to_ms(start), to_ms(end)
        return [c for c in self._candles.get(pair, []) if start_ms <= to_ms(c.minute) < end_ms]
