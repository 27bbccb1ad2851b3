"""prices_receivers_only: other apps' ticks_stored receivers are muted in the block, restored after."""

from prices.signals import prices_receivers_only, ticks_stored


def test_only_prices_receivers_hear_ticks_stored_inside_the_block_and_all_after():
    heard = []

    def ours(**kwargs):
        heard.append("prices")

    def theirs(**kwargs):
        heard.append("other")

    ticks_stored.connect(ours, dispatch_uid="prices.test_ours", weak=False)
    ticks_stored.connect(theirs, dispatch_uid="other.test_theirs", weak=False)
    try:
        with prices_receivers_only():
            ticks_stored.send(sender=None, exchange="bitfinex", minutes=[], source="ticker")
        assert heard == ["prices"]

        ticks_stored.send(sender=None, exchange="bitfinex", minutes=[], source="ticker")
        assert heard == ["prices", "prices", "other"]
    finally:
        ticks_stored.disconnect(dispatch_uid="prices.test_ours")
        ticks_stored.disconnect(dispatch_uid="other.test_theirs")
