"""Pairs the exchange rejects or no longer lists: backfills go on, gap repair stops asking,
the tracked pairs follow the exchange's own pair list (loopback stub with recorded payloads)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from rest_framework.test import APIClient

from prices import sources
from prices.domain import MINUTE, to_ms
from prices.models import PairStatus
from prices.services import gaps_repair, gaps_scan, ticks_ingest
from prices.services.pairs import MAX_PERMANENT_FAILURES, PairListError, pairs_reconcile
from prices.sources.base import SourceError, TickerBatch, TickerRow
from prices.sources.bitfinex import BitfinexSource, parse_pair_list
from prices.sources.fake import FakeTickerSource
from prices.sources.stub_server import BitfinexStubServer

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "exchanges"
LIST_2021 = FIXTURES / "bitfinex_conf_pair_exchange.json"
LIST_2020 = FIXTURES / "bitfinex_conf_pair_exchange_2020.json"
T0 = datetime(2019, 12, 31, 12, 0, tzinfo=UTC)  # inside the stub's recorded candle history
# A real pair of the 2020 list that is missing from the 2021 one (README §5, §6).
GONE = "AGIUSD"


def m(i: int) -> datetime:
    return T0 + i * MINUTE


def poll(repo, i: int, pairs: tuple[str, ...]) -> None:
    """The poll describing minute i, made 5 s into minute i + 1."""
    batch = TickerBatch(rows=[TickerRow(pair=p, last_price=Decimal(100 + i)) for p in pairs])
    summary = ticks_ingest(
        source=FakeTickerSource([batch]), repo=repo, now=lambda: m(i + 1) + timedelta(seconds=5)
    )
    assert summary.status == "stored"


def listed(path: Path) -> set[str]:
    return set(json.loads(path.read_text())[0])


@pytest.fixture
def stub():
    with BitfinexStubServer(rejected={GONE}) as server:
        yield server


@pytest.fixture
def configured_stub(stub, settings):
    """The configured sources (commands, tasks) talk to the stub, without request spacing."""
    settings.BITFINEX_API_URL = stub.url
    sources._source.cache_clear()
    yield stub
    sources._source.cache_clear()


def candle_requests(stub: BitfinexStubServer, pair: str) -> int:
    return sum(1 for path in stub.requests if path.startswith(f"/v2/candles/trade:1m:t{pair}/"))


# --- 1. a pair the exchange rejects ------------------------------------------------------------


def test_a_multi_pair_backfill_goes_past_a_rejected_pair_and_fails_at_the_end_naming_it(
    configured_stub, memory_configured_repo
):
    with pytest.raises(CommandError) as failed:
        call_command(
            "backfill_prices",
            "--pair",
            GONE,
            "--pair",
            "BTCUSD",
            "--start",
            "2019-12-31T12:00Z",
            "--end",
            "2019-12-31T12:10Z",
            stdout=StringIO(),
            stderr=StringIO(),
            verbosity=0,
        )

    assert f"backfill failed for 1 of 2 pairs: {GONE}: " in str(failed.value)
    assert "10020 symbol: invalid" in str(failed.value)
    stored = list(memory_configured_repo.between(exchange="bitfinex", pair="BTCUSD", start=m(0), end=m(10)))
    assert len(stored) == 10
    assert candle_requests(configured_stub, GONE) == 1  # a permanent error is not retried


def test_gap_repair_marks_a_rejected_pair_inactive_after_a_few_runs_and_stops_asking(
    stub, memory_configured_repo
):
    for i in (0, 1, 2, 4, 5):  # minute 3 is missing for both pairs
        poll(memory_configured_repo, i, ("BTCUSD", GONE))
    source = BitfinexSource(base_url=stub.url, candle_min_interval_s=0, rate_limit_retries=0)

    def repair(run: int):
        return gaps_repair(
            now=m(10) + run * 2 * MINUTE, source=source, since=m(0), until=m(6), repo=memory_configured_repo
        )

    runs = [repair(run) for run in range(MAX_PERMANENT_FAILURES)]
    after = repair(MAX_PERMANENT_FAILURES)

    assert [candle_requests(stub, GONE)] == [MAX_PERMANENT_FAILURES]  # once per run, then never
    assert runs[-1].inactivated == [GONE]
    assert after.inactive_skipped == 1 and after.requests == 0
    status = PairStatus.objects.get(pair=GONE)
    assert (status.state, status.since) == ("inactive", m(10) + (MAX_PERMANENT_FAILURES - 1) * 2 * MINUTE)
    assert "10020 symbol: invalid" in status.reason
    btc = gaps_scan(now=m(20), since=m(0), until=m(6), repo=memory_configured_repo).pairs["BTCUSD"]
    assert btc.missing == []  # the healthy pair was repaired in the first run


def test_report_gaps_shows_an_inactive_pair_with_its_reason_and_time(memory_configured_repo):
    for i in (0, 1, 3):
        poll(memory_configured_repo, i, ("BTCUSD", GONE))
    PairStatus.objects.create(
        pair=GONE,
        state="inactive",
        since=m(9),
        reason="GET …: HTTP 500: Bitfinex error 10020 symbol: invalid",
    )
    out = StringIO()

    call_command("report_gaps", "--since", "2019-12-31T12:00", "--until", "2019-12-31T12:04", stdout=out)

    assert f"inactive {GONE} since 2019-12-31T12:09Z: GET …: HTTP 500: Bitfinex error 10020" in out.getvalue()


def test_a_pair_whose_candles_answer_again_is_active_again(stub, memory_configured_repo):
    for i in (0, 1, 3):
        poll(memory_configured_repo, i, ("BTCUSD",))
    PairStatus.objects.create(pair="BTCUSD", state="inactive", since=m(9), failures=3, reason="was rejected")
    source = BitfinexSource(base_url=stub.url, candle_min_interval_s=0)

    summary = gaps_repair(
        now=m(10), source=source, pairs=["BTCUSD"], since=m(0), until=m(4), repo=memory_configured_repo
    )

    assert summary.requests == 1  # named explicitly: asked for although inactive
    assert PairStatus.objects.get(pair="BTCUSD").state == "active"


# --- 2. the exchange's own pair list ------------------------------------------------------------


def test_the_recorded_pair_lists_parse_into_every_listed_pair():
    for path in (LIST_2021, LIST_2020):
        assert set(parse_pair_list(json.loads(path.read_text()))) == listed(path)


def test_a_pair_list_that_is_not_a_list_inside_a_list_is_a_permanent_error():
    with pytest.raises(SourceError) as caught:
        parse_pair_list(json.loads(LIST_2021.read_text())[0])

    assert caught.value.permanent is True


@pytest.fixture
def tracked(memory_configured_repo):
    """BTCUSD and GONE polled for minutes 0–5; GONE then stops while BTCUSD goes on to minute 70."""
    for i in range(6):
        poll(memory_configured_repo, i, ("BTCUSD", GONE))
    for i in range(6, 71):
        poll(memory_configured_repo, i, ("BTCUSD",))
    return memory_configured_repo


def test_a_pair_that_left_the_exchange_s_list_is_delisted_and_one_that_returns_resumes(stub, tracked):
    assert GONE in listed(LIST_2020) - listed(LIST_2021) and "BTCUSD" in listed(LIST_2021)
    source = BitfinexSource(base_url=stub.url)

    gone = pairs_reconcile(source=source, now=m(71), repo=tracked)
    stub.set_pair_list(LIST_2020.read_bytes())
    back = pairs_reconcile(source=source, now=m(80), repo=tracked)

    assert (gone.delisted, gone.relisted) == ([GONE], [])
    assert (back.delisted, back.relisted) == ([], [GONE])
    status = PairStatus.objects.get(pair=GONE)
    assert (status.state, status.since) == ("active", m(80))


def test_a_delisted_pair_is_not_expected_past_its_last_minute(tracked):
    PairStatus.objects.create(pair=GONE, state="delisted", since=m(7))

    scan = gaps_scan(now=m(73), since=m(0), until=m(20), repo=tracked)  # within the hour

    assert scan.pairs[GONE].end_ms == to_ms(m(6))
    assert scan.pairs[GONE].missing == []
    assert scan.pairs["BTCUSD"].end_ms == to_ms(m(20))


def test_the_api_marks_a_delisted_pair_in_the_list_and_in_its_detail(tracked):
    PairStatus.objects.create(pair=GONE, state="delisted", since=m(7))
    cache.clear()
    api = APIClient()

    rows = {row["pair"]: row for row in api.get("/api/v1/pairs/").json()["results"]}
    detail = api.get(f"/api/v1/pairs/{GONE}/").json()

    assert (rows[GONE]["status"], rows[GONE]["status_since"]) == ("delisted", "2019-12-31T12:07:00Z")
    assert (rows["BTCUSD"]["status"], rows["BTCUSD"]["status_since"]) == ("active", None)
    assert (detail["status"], detail["pair"]) == ("delisted", GONE)


def test_readiness_counts_a_delisted_pair_as_delisted_not_stale(db, memory_configured_repo, settings):
    from cryptotracker.scheduling import schedules_ensure
    from prices.domain import minute_of_observation

    schedules_ensure()
    now = datetime.now(UTC)
    latest = minute_of_observation(now)
    for pair, minute in (("BTCUSD", latest), (GONE, latest - 10 * MINUTE)):
        from prices.repository import LatestPrice

        memory_configured_repo.update_latest(
            exchange="bitfinex", prices={pair: LatestPrice(to_ms(minute), Decimal(1))}
        )
    PairStatus.objects.create(pair=GONE, state="delisted", since=now)

    body = Client().get("/readyz").json()

    freshness = body["checks"]["freshness"]
    assert freshness["ok"] is True
    assert (freshness["stale_pairs"], freshness["delisted_pairs"]) == (0, 1)


def test_an_empty_pair_list_changes_nothing(stub, tracked):
    stub.set_pair_list(b"[[]]")

    with pytest.raises(PairListError):
        pairs_reconcile(source=BitfinexSource(base_url=stub.url), now=m(71), repo=tracked)

    assert not PairStatus.objects.exists()


def test_the_reconcile_command_prints_what_changed(configured_stub, tracked):
    out = StringIO()

    call_command("reconcile_pairs", stdout=out)

    assert f"delisted now: {GONE}" in out.getvalue()


def test_the_stub_rejects_candles_of_a_pair_missing_from_the_pair_list_it_serves():
    with BitfinexStubServer() as server:
        source = BitfinexSource(base_url=server.url, candle_min_interval_s=0, retries=0)
        with pytest.raises(SourceError) as rejected:
            source.fetch_candles(pair=GONE, start=m(0), end=m(5))
        server.set_pair_list(LIST_2020.read_bytes())
        answered = source.fetch_candles(pair=GONE, start=m(0), end=m(5))

    assert rejected.value.permanent is True
    assert answered == []  # listed again; the stub has no recorded candles of it


def test_an_operator_sees_pair_statuses_in_the_admin(admin_client):
    PairStatus.objects.create(pair=GONE, state="inactive", since=m(9), reason="10020 symbol: invalid")

    page = admin_client.get("/admin/prices/pairstatus/")

    assert page.status_code == 200
    assert GONE in page.content.decode() and "10020 symbol: invalid" in page.content.decode()
