"""The watchlist of a signed-in user: which pairs they starred (reads and writes)."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser

from prices.domain import EXCHANGE_BITFINEX
from prices.models import WatchedPair

MAX_WATCHED = 500


class WatchlistFullError(ValueError):
    """The user already watches MAX_WATCHED pairs."""


def watchlist_get(*, user: AbstractBaseUser, exchange: str = EXCHANGE_BITFINEX) -> list[str]:
    """The pair names `user` starred on `exchange`, sorted (one query)."""
    return list(WatchedPair.objects.filter(user=user, exchange=exchange).values_list("pair", flat=True))


def watchlist_set(
    *, user: AbstractBaseUser, pair: str, starred: bool, exchange: str = EXCHANGE_BITFINEX
) -> list[str]:
    """Star or unstar `pair` for `user` (idempotent) and return the watchlist.

    Raises WatchlistFullError beyond MAX_WATCHED pairs. The pair must be a tracked one
    (the caller checks it against prices.selectors).
    """
    if starred:
        if not WatchedPair.objects.filter(user=user, exchange=exchange, pair=pair).exists():
            if WatchedPair.objects.filter(user=user, exchange=exchange).count() >= MAX_WATCHED:
                raise WatchlistFullError(f"a watchlist holds at most {MAX_WATCHED} pairs")
            WatchedPair.objects.get_or_create(user=user, exchange=exchange, pair=pair)
    else:
        WatchedPair.objects.filter(user=user, exchange=exchange, pair=pair).delete()
    return watchlist_get(user=user, exchange=exchange)
