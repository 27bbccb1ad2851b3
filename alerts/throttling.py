"""The rate limit of backtests (API `rules/{id}/backtest/` and the rule form's preview).

A backtest replays up to 30 days of minutes in the web process, so it has its own, lower rate
than the API's per-user rate: `ALERTS_BACKTEST_RATE` per signed-in user, counted in the cache
(shared by every process and host with REDIS_URL) by DRF's throttle.
"""

from __future__ import annotations

from django.conf import settings
from rest_framework.throttling import UserRateThrottle


class BacktestRateThrottle(UserRateThrottle):
    """`ALERTS_BACKTEST_RATE` backtests per user (empty setting: unlimited).

    Works for DRF views (as a throttle class) and for plain Django views (`allow_request(request,
    None)`, then `wait()` seconds until the next one is allowed).
    """

    scope = "backtest"

    def get_rate(self) -> str | None:
        return settings.ALERTS_BACKTEST_RATE
