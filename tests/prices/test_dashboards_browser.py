"""The dashboards in a real browser: Debian's chromium driven by Playwright, on real history.

The server reads the real 2019-12-30/31 candles of 7 pairs, imported with `import_prices` into
dynalite (a DynamoDB-protocol server on 127.0.0.1), plus four real polls of a pair priced
around 0.00002 BTC and one pair's row of the recorded tickers response. It serves static files
as production does (collected, hashed, compressed: `production_like_server`), so the page
weights measured here are the real ones. Every test also checks that the page logged no
console error and that no request left 127.0.0.1. Screenshots are written to
docs/screenshots/ (the README shows them).
"""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.test import override_settings

from prices import selectors
from prices.dashboards.auditing import production_like_server
from prices.domain import EXCHANGE_BITFINEX, MINUTE, Tick, TickSource
from prices.repository import _repository, get_tick_repository
from prices.repository.base import RepositoryError
from prices.repository.dynamodb import DynamoTickRepository
from prices.services import history_store
from tests.realdata import ticker_rows

pytestmark = [pytest.mark.browser, pytest.mark.integration]

ROOT = Path(__file__).resolve().parents[2]
HISTORY = ROOT / "tests" / "fixtures" / "history" / "zombie3000"
SCREENSHOTS = ROOT / "docs" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-domain-reliability",
    "--metrics-recording-only",
]
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}
PAIRS = ["BTCUSD", "EOSUSD", "ETHUSD", "IOTUSD", "LTCUSD", "NEOUSD", "XRPUSD"]
# ADABTC's four real polls of 2021-03-19 18:24–18:27 (tests/fixtures/history/4min_...json),
# stored as the last four minutes of 2019-12-31 so that they sit beside the candles. They hold
# prices only (snapshot ticks, as `import_prices` stores such polls).
TINY = "ADABTC"
TINY_PRICES = ["0.00002266", "0.00002266", "0.00002266", "0.00002259"]
# MNABTC's row of the recorded tickers response, stored as one poll of the history's last minute:
# with one minute of the 1,440 it is a pair on its first day, so the overview shows the
# exchange's 24 h figures of that row for it.
FIRST_DAY = "MNABTC"
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def history_repo(dynalite_server, django_db_setup, django_db_blocker) -> Iterator[DynamoTickRepository]:
    """dynalite with the real history imported by `import_prices`, wired into the settings.

    Module-scoped (the import takes ~30 s), so the tables are made here the way the
    function-scoped `dynamo_repo_factory` makes them: a throw-away prefix, `ensure_tables()`.
    """
    prefix = f"browser_{uuid.uuid4().hex[:10]}_"
    with override_settings(DYNAMODB_ENDPOINT_URL=dynalite_server, DYNAMODB_TABLE_PREFIX=prefix):
        _repository.cache_clear()
        cache.clear()
        repo = get_tick_repository()
        repo.ensure_tables()
        # Storing ticks tells the alerts app, which looks at its rules in the database.
        with django_db_blocker.unblock():
            call_command("import_prices", str(HISTORY), verbosity=0)
            first = selectors.window_end_default(repo=repo) - len(TINY_PRICES) * MINUTE
            last = first + (len(TINY_PRICES) - 1) * MINUTE
            polled = ticker_rows()[FIRST_DAY].to_tick(
                exchange=EXCHANGE_BITFINEX, minute=last, observed_at=last
            )
            history_store(
                ticks=[
                    *(
                        Tick(
                            exchange=EXCHANGE_BITFINEX,
                            pair=TINY,
                            minute=first + i * MINUTE,
                            last_price=Decimal(price),
                            source=TickSource.SNAPSHOT,
                        )
                        for i, price in enumerate(TINY_PRICES)
                    ),
                    polled,
                ],
                repo=repo,
            )
        cache.clear()
        yield repo
        with contextlib.suppress(RepositoryError):
            repo.delete_tables()
    _repository.cache_clear()
    cache.clear()


@pytest.fixture(scope="module")
def site(history_repo, django_db_blocker) -> Iterator[str]:
    """The URL of a production-like server (collected, compressed static files) on the history."""
    with django_db_blocker.unblock(), production_like_server() as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make test` (it installs Debian's chromium)", pytrace=False)
    # Playwright's sync API keeps an asyncio loop in this thread; the database flush after each
    # live-server test is synchronous code that Django would otherwise refuse to run beside it.
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        # launch() + new_context() gives every test a fresh, empty profile directory.
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@dataclass
class Session:
    """A page plus everything it asked for and complained about."""

    page: object
    base: str
    requests: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def goto(self, path: str) -> None:
        response = self.page.goto(self.base + path)
        assert response is not None and response.status == 200, f"{path}: HTTP {response and response.status}"

    def assert_clean(self) -> None:
        """No console error, no failed request, and every request went to 127.0.0.1."""
        assert self.console_errors == []
        assert self.failed == []
        assert self.blocked == []
        assert self.requests, "the page made no request at all?"
        assert all(
            urlsplit(url).hostname in LOCAL_HOSTS for url in self.requests if not url.startswith("data:")
        )


def _open(browser, site: str, *, intercept: bool = True, **context_options) -> tuple[object, Session]:
    """A fresh context and page; with `intercept`, requests beyond 127.0.0.1 are aborted.

    Interception turns off the browser's HTTP cache (Playwright), so a test of caching opens
    its page with `intercept=False`; its requests are still recorded and checked.
    """
    context = browser.new_context(**{"viewport": DESKTOP, **context_options})
    page = context.new_page()
    session = Session(page=page, base=site)

    def route(route):
        url = route.request.url
        session.requests.append(url)
        if urlsplit(url).hostname in LOCAL_HOSTS or url.startswith("data:"):
            route.continue_()
        else:
            session.blocked.append(url)
            route.abort()

    if intercept:
        context.route("**/*", route)
    else:
        page.on("request", lambda request: session.requests.append(request.url))
    page.on(
        "console", lambda message: message.type == "error" and session.console_errors.append(message.text)
    )
    page.on("pageerror", lambda error: session.console_errors.append(str(error)))
    page.on("requestfailed", lambda request: session.failed.append(f"{request.url}: {request.failure}"))
    page.on(
        "response",
        lambda response: (
            response.status >= 400 and session.failed.append(f"{response.url}: {response.status}")
        ),
    )
    page.on("websocket", lambda socket: session.requests.append(socket.url))
    return context, session


@pytest.fixture
def session(browser, site) -> Iterator[Session]:
    context, session = _open(browser, site)
    yield session
    context.close()


def chart_trace(session: Session, chart_id: str = "price-chart", index: int = 0) -> dict:
    return session.page.evaluate(
        """([id, index]) => {
            const gd = document.getElementById(id);
            const trace = gd.data[index];
            return {type: trace.type, x: trace.x, y: trace.y ?? null, close: trace.close ?? null,
                    connectgaps: gd._fullData[index].connectgaps ?? null, meta: gd.layout.meta,
                    count: gd.data.length, names: gd.data.map(t => t.name)};
        }""",
        [chart_id, index],
    )


def wait_for_chart(session: Session, chart_id: str = "price-chart") -> None:
    """Wait for the interactive chart; on the pair page, point at its server-drawn preview first
    (plotly.js is loaded at the first pointer, touch, focus or control, or after a minute)."""
    if session.page.locator(f"#{chart_id} .chart-preview").count():
        session.page.hover(f"#{chart_id}")
    session.page.wait_for_function(
        "id => { const gd = document.getElementById(id); return gd && gd._fullLayout && gd.data; }",
        arg=chart_id,
    )
    session.page.wait_for_selector('[data-page][data-state="ready"]')


def choose(session: Session, option: str, value: str) -> None:
    session.page.click(f'[data-option="{option}"][data-value="{value}"]')
    session.page.wait_for_selector(f'[data-option="{option}"][data-value="{value}"][aria-current="true"]')
    session.page.wait_for_selector('[data-page][data-state="ready"]')


def pair_end(pair: str, repo) -> datetime:
    """Where the pair page's default window ends: at the end of the pair's newest minute."""
    return selectors.pair_get(pair=pair, repo=repo).last_minute + MINUTE


def expected_line(pair: str, minutes: int, repo) -> tuple[int, int]:
    """(ticks, gaps) of the pair's window of `minutes` ending where the pair's data ends."""
    end = pair_end(pair, repo)
    ticks = selectors.ticks_between(pair=pair, start=end - minutes * MINUTE, end=end, repo=repo)
    gaps = sum(1 for a, b in zip(ticks, ticks[1:], strict=False) if b.minute - a.minute > MINUTE)
    return len(ticks), gaps


# --- overview ---------------------------------------------------------------------------


def test_overview_lists_all_seven_pairs_in_rank_order(session, history_repo):
    end = selectors.window_end_default(repo=history_repo)
    ranking = selectors.pairs_rank(window_minutes=1440, end=end, metric="relative_std", repo=history_repo)

    session.goto("/")

    shown = session.page.locator("tbody tr[data-pair]").evaluate_all("rows => rows.map(r => r.dataset.pair)")
    # Low-coverage pairs come last; of those, the one with the exchange's 24 h figures (MNABTC's
    # first day) first, then the others in rank order.
    covered = [e.pair.name for e in ranking if not e.low_coverage]
    thin = [e.pair.name for e in ranking if e.low_coverage and e.pair.name != FIRST_DAY]
    assert shown == [*covered, FIRST_DAY, *thin]
    assert sorted(shown) == sorted([*PAIRS, TINY, FIRST_DAY])
    assert session.page.locator('[data-stale="true"]').is_visible()  # the history ends on 2019-12-31
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    session.page.screenshot(path=str(SCREENSHOTS / "overview.png"), full_page=True)
    session.assert_clean()


def test_overview_filters_as_you_type_and_a_row_click_opens_the_pair(session):
    session.goto("/")

    session.page.fill("#filter-q", "eth")
    visible = session.page.locator("tbody tr[data-pair]:visible").evaluate_all(
        "rows => rows.map(r => r.dataset.pair)"
    )
    assert visible == ["ETHUSD"]
    assert session.page.text_content("#filter-status") == "1 of 9 pairs shown"
    assert session.page.url.endswith("/?q=eth")
    session.page.click('tr[data-pair="ETHUSD"] td.change')
    session.page.wait_for_url("**/pairs/ETHUSD/")
    wait_for_chart(session)
    session.assert_clean()


def test_overview_refreshes_every_minute_without_reloading(session):
    session.page.clock.install()
    session.goto("/")
    session.page.evaluate("window.__sameDocument = true")

    with session.page.expect_response(lambda r: "/overview/live/" in r.url):
        session.page.clock.fast_forward("01:01")
    session.page.wait_for_selector('#overview-live[data-refreshes="1"]')

    assert session.page.evaluate("window.__sameDocument") is True
    assert session.page.locator("tbody tr[data-pair]").count() == len(PAIRS) + 2  # ADABTC, MNABTC
    session.assert_clean()


def test_overview_table_works_without_javascript(browser, site):
    context, session = _open(browser, site, java_script_enabled=False)
    try:
        session.goto("/")
        assert session.page.locator("tbody tr[data-pair]:visible").count() == len(PAIRS) + 2

        session.page.fill("#filter-q", "usd")
        session.page.select_option("#filter-quote", "USD")
        session.page.click("button[type=submit]")
        session.page.wait_for_url("**/?quote=USD&q=usd")
        assert session.page.locator("tbody tr[data-pair]:visible").count() == 7
        session.page.click('tr[data-pair="NEOUSD"] a')
        session.page.wait_for_url("**/pairs/NEOUSD/")
        assert "Statistics of the visible window" in session.page.text_content("#stats-panel")
        session.assert_clean()
    finally:
        context.close()


OVERFLOWING = """() => {
    // Elements (outside the charts' SVG, which clips itself) reaching past the viewport's right edge.
    const width = window.innerWidth;
    return Array.from(document.querySelectorAll("body *"))
        .filter(el => !el.closest("svg") && el.getClientRects().length)
        .filter(el => el.getBoundingClientRect().right > width + 0.5)
        .map(el => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") + "." + el.className);
}"""


def assert_fits_the_phone(session: Session) -> None:
    """No sideways scrolling: the page is no wider than the screen and nothing sticks out."""
    widths = session.page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1] == PHONE["width"]
    assert session.page.evaluate(OVERFLOWING) == []
    header = session.page.locator(".site-header").bounding_box()
    assert header["height"] < 60  # one line: the brand's logo and every link
    links = session.page.locator(".site-nav a:visible").evaluate_all(
        "links => links.map(a => [a.textContent.trim(), a.getBoundingClientRect().right])"
    )
    assert [name for name, _ in links] == ["Overview", "Compare", "Alerts", "Sign in"]
    assert all(right <= PHONE["width"] for _, right in links)


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/pairs/BTCUSD/",
        "/pairs/NEOUSD/?range=7d",
        f"/pairs/{TINY}/",
        "/compare/?pairs=" + ",".join(PAIRS),
    ],
)
def test_phone_pages_do_not_scroll_sideways_before_and_after_the_chart_is_drawn(browser, site, path):
    context, session = _open(browser, site, viewport=PHONE, has_touch=True, is_mobile=True)
    try:
        session.goto(path)
        assert_fits_the_phone(session)

        if path != "/":
            chart = "compare-chart" if path.startswith("/compare/") else "price-chart"
            if chart == "price-chart":
                session.page.tap(f"#{chart}")  # a touch loads the interactive chart
            wait_for_chart(session, chart)
            assert_fits_the_phone(session)
        session.assert_clean()
    finally:
        context.close()


def test_overview_fits_a_phone_screen(browser, site):
    context, session = _open(browser, site, viewport=PHONE)
    try:
        session.goto("/")

        page_width = session.page.evaluate("document.documentElement.scrollWidth")
        table = session.page.evaluate(
            "() => { const box = document.querySelector('.table-scroll');"
            " return [box.scrollWidth, box.clientWidth]; }"
        )
        header = session.page.locator(".site-header").bounding_box()
        assert page_width <= 390  # no sideways scrolling of the page ...
        assert table[0] <= table[1]  # ... nor of the table
        assert header["height"] < 60  # one line
        assert session.page.locator('tr[data-pair="BTCUSD"] a').is_visible()
        assert session.page.locator('tr[data-pair="BTCUSD"] td.change').is_visible()
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        session.page.screenshot(path=str(SCREENSHOTS / "overview-phone.png"), full_page=True)
        session.goto("/pairs/BTCUSD/")
        wait_for_chart(session)
        assert session.page.evaluate("document.documentElement.scrollWidth") <= 390
        session.page.screenshot(path=str(SCREENSHOTS / "pair-phone.png"), full_page=True)
        session.assert_clean()
    finally:
        context.close()


# --- pair page ---------------------------------------------------------------------------


def test_pair_chart_holds_the_points_of_the_range_and_range_buttons_change_it(session, history_repo):
    session.goto("/pairs/BTCUSD/")
    wait_for_chart(session)

    day = chart_trace(session)
    ticks, gaps = expected_line("BTCUSD", 1440, history_repo)
    assert (ticks, len(day["x"]), day["y"].count(None)) == (1365, ticks + gaps, gaps)
    assert day["meta"]["method"] == "none"
    session.page.screenshot(path=str(SCREENSHOTS / "pair.png"), full_page=True)

    choose(session, "range", "6h")
    six = chart_trace(session)
    ticks, gaps = expected_line("BTCUSD", 360, history_repo)
    assert (len(six["x"]), six["y"].count(None)) == (ticks + gaps, gaps)
    assert session.page.url.endswith("/pairs/BTCUSD/?range=6h&view=line")

    choose(session, "range", "7d")
    week = chart_trace(session)
    ticks, _ = expected_line("BTCUSD", 10080, history_repo)
    assert ticks == 2739 and len(week["x"]) <= 2000
    assert week["meta"]["method"] == "lttb"
    assert "Downsampled with LTTB: 2,739 minute prices" in session.page.text_content("#chart-note")
    session.assert_clean()


def test_gaps_stay_gaps(session, history_repo):
    session.goto("/pairs/NEOUSD/?range=24h")
    wait_for_chart(session)

    trace = chart_trace(session)
    ticks, gaps = expected_line("NEOUSD", 1440, history_repo)
    assert gaps > 100
    assert trace["y"].count(None) == gaps
    assert trace["connectgaps"] is False
    session.assert_clean()


def test_candles_come_in_the_chosen_interval(session, history_repo):
    end = pair_end("ETHUSD", history_repo)
    candles = selectors.candles_between(
        pair="ETHUSD", start=end - 1440 * MINUTE, end=end, minutes=60, repo=history_repo
    )
    session.goto("/pairs/ETHUSD/")
    wait_for_chart(session)

    choose(session, "view", "1h")

    trace = chart_trace(session)
    assert trace["type"] == "candlestick"
    assert trace["close"] == [float(c.close) for c in candles]
    assert len(candles) == 25  # ETHUSD's day ends at 23:57: 24 hours touch 25 clock hours
    assert {c.minutes for c in candles} == {60}
    session.assert_clean()


def test_statistics_follow_the_visible_window(session):
    session.goto("/pairs/BTCUSD/")
    wait_for_chart(session)

    with session.page.expect_response(lambda r: "/pairs/BTCUSD/stats/" in r.url):
        session.page.evaluate(
            "Plotly.relayout('price-chart', {'xaxis.range': ['2019-12-31 06:00:00', '2019-12-31 08:59:30']})"
        )

    session.page.wait_for_function(
        "() => document.querySelector('#stats-panel .stats__window').textContent.includes('09:00 UTC')"
    )
    assert "of 180 min" in session.page.text_content("#stats-panel")
    session.assert_clean()


def test_unknown_pair_shows_the_not_found_page(session):
    response = session.page.goto(session.base + "/pairs/DOGEUSD/")

    assert response.status == 404
    assert "No pair called “DOGEUSD”" in session.page.text_content("h1")


# --- compare -----------------------------------------------------------------------------


def line_names(trace: dict) -> list[str]:
    return [name for name in trace["names"] if not name.endswith(" (lone minutes)")]


def test_compare_draws_one_trace_per_pair(session):
    session.goto("/compare/?pairs=" + ",".join(PAIRS))
    wait_for_chart(session, "compare-chart")

    day = chart_trace(session, "compare-chart")
    assert line_names(day) == PAIRS  # besides each line, a trace of its lone minutes' dots
    assert day["y"][0] == 0  # % change from the first price
    session.page.screenshot(path=str(SCREENSHOTS / "compare.png"), full_page=True)

    choose(session, "range", "1h")
    hour = chart_trace(session, "compare-chart")
    assert line_names(hour) == PAIRS
    assert len(hour["x"]) < len(day["x"])
    session.assert_clean()


def test_the_compare_hover_shows_each_change_signed_with_two_decimals(session):
    session.goto("/compare/?pairs=BTCUSD,ETHUSD,XRPUSD&range=1h")
    wait_for_chart(session, "compare-chart")

    box = session.page.locator("#compare-chart .nsewdrag").first.bounding_box()
    session.page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] / 2)
    session.page.locator("#compare-chart .hoverlayer .legendtext").first.wait_for()
    entries = session.page.evaluate(
        "Array.from(document.querySelectorAll('#compare-chart .hoverlayer .legendtext'), t => t.textContent)"
    )

    # The template's number format as drawn, not as sent: plotly.js once showed the raw float.
    assert entries
    signed = re.compile(r"[A-Z]+ : [+\u2212-]\d{1,3}(,\d{3})*\.\d\d %")
    assert all(signed.fullmatch(entry) for entry in entries), entries
    session.assert_clean()


# --- axes, zoom, page weight --------------------------------------------------------------


def y_tick_labels(session: Session, chart_id: str = "price-chart") -> list[str]:
    return session.page.evaluate(
        "id => Array.from(document.querySelectorAll(`#${id} .yaxislayer-above .ytick text`),"
        " t => t.textContent)",
        chart_id,
    )


def test_tiny_prices_read_as_plain_decimals_on_the_axis_and_in_the_hover(session):
    session.goto(f"/pairs/{TINY}/?range=1h")
    wait_for_chart(session)

    labels = y_tick_labels(session)
    assert labels and all("μ" not in label and "e" not in label for label in labels)
    assert any(label.startswith("0.0000226") for label in labels)
    assert session.page.evaluate("document.getElementById('price-chart')._fullLayout.yaxis.hoverformat") == (
        ",.8f"
    )
    session.assert_clean()


def test_a_zoom_fits_the_price_axis_to_the_visible_prices_and_autoscale_restores_it(session):
    session.goto("/pairs/BTCUSD/")
    wait_for_chart(session)
    span = (
        "() => { const r = document.getElementById('price-chart')._fullLayout.yaxis.range; "
        "return r[1] - r[0]; }"
    )
    whole = session.page.evaluate(span)

    session.page.evaluate(
        "Plotly.relayout('price-chart', {'xaxis.range': ['2019-12-31 06:00:00', '2019-12-31 06:30:00']})"
    )
    session.page.wait_for_function(f"({span})() < {whole} / 2")

    session.page.locator('#price-chart .modebar-btn[data-title="Autoscale"]').click()
    session.page.wait_for_function(f"({span})() >= {whole} * 0.9")
    session.assert_clean()


def transferred_bytes(session: Session, path: str) -> int:
    """Bytes received over the network (headers and compressed bodies) while loading `path`."""
    cdp = session.page.context.new_cdp_session(session.page)
    received: list[int] = []
    cdp.on("Network.loadingFinished", lambda event: received.append(int(event["encodedDataLength"])))
    cdp.send("Network.enable")
    session.goto(path)
    wait_for_chart(session)
    session.page.wait_for_load_state("networkidle")
    cdp.detach()
    return sum(received)


def test_the_pair_page_weighs_under_1_5_mb_first_and_under_100_kb_again(browser, site):
    context, session = _open(browser, site, intercept=False)
    try:
        first = transferred_bytes(session, "/pairs/BTCUSD/")
        again = transferred_bytes(session, "/pairs/BTCUSD/")

        print(f"pair page: first visit {first:,} bytes, repeat visit {again:,} bytes")
        assert first <= 1_500_000
        assert again <= 100_000
        session.assert_clean()
    finally:
        context.close()


def boxes_overlap(a: dict, b: dict) -> bool:
    return not (
        a["x"] + a["width"] <= b["x"]
        or b["x"] + b["width"] <= a["x"]
        or a["y"] + a["height"] <= b["y"]
        or b["y"] + b["height"] <= a["y"]
    )


def test_compare_on_a_phone_keeps_the_legend_off_the_range_slider(browser, site):
    context, session = _open(browser, site, viewport=PHONE)
    try:
        session.goto("/compare/?pairs=" + ",".join(PAIRS))
        wait_for_chart(session, "compare-chart")

        legend = session.page.locator("#compare-chart .legend").bounding_box()
        slider = session.page.locator("#compare-chart .rangeslider-container").bounding_box()
        assert not boxes_overlap(legend, slider)
        assert session.page.evaluate("document.documentElement.scrollWidth") <= 390
        session.page.screenshot(path=str(SCREENSHOTS / "compare-phone.png"), full_page=True)
        session.assert_clean()
    finally:
        context.close()


def test_the_date_control_moves_the_pair_window_back_and_the_range_buttons_keep_it(session):
    session.goto("/pairs/BTCUSD/")
    wait_for_chart(session)

    session.page.fill("#end-input", "2019-12-31T12:00")
    session.page.click(".end-control button[type=submit]")
    session.page.wait_for_url("**/pairs/BTCUSD/?range=24h&view=line&end=2019-12-31T12%3A00")
    wait_for_chart(session)
    assert chart_trace(session)["meta"]["end"] == "2019-12-31T12:00:00Z"

    choose(session, "range", "6h")
    meta = chart_trace(session)["meta"]
    assert (meta["start"], meta["end"]) == ("2019-12-31T06:00:00Z", "2019-12-31T12:00:00Z")
    session.assert_clean()


def test_the_date_control_reads_one_utc_format_whatever_the_locale_and_says_what_is_wrong(browser, site):
    # A US-English browser: a datetime-local field would show "12/31/2019, 12:00 PM".
    context, session = _open(browser, site, locale="en-US", timezone_id="America/New_York")
    try:
        session.goto("/compare/?pairs=BTCUSD,ETHUSD&end=2019-12-31T18:00Z")
        field = session.page.locator("#end-input")
        assert field.get_attribute("type") == "text"
        assert field.input_value() == "2019-12-31 18:00"
        assert "YYYY-MM-DD HH:MM, 24-hour UTC" in session.page.text_content(".end-control")

        field.fill("12/31/2019 6:00 PM")
        session.page.click(".end-control button[type=submit]")
        error = session.page.locator("#end-error")
        assert error.is_visible() and "YYYY-MM-DD HH:MM" in error.text_content()
        assert field.get_attribute("aria-invalid") == "true"
        assert session.page.url.endswith("&end=2019-12-31T18:00Z")  # nothing was sent

        field.fill("2019-12-31 06:30 UTC")
        session.page.click(".end-control button[type=submit]")
        session.page.wait_for_url("**/compare/?range=24h&pairs=BTCUSD%2CETHUSD&end=2019-12-31+06%3A30+UTC")
        wait_for_chart(session, "compare-chart")
        assert chart_trace(session, "compare-chart")["meta"]["end"] == "2019-12-31T06:30:00Z"
        assert session.page.locator("#end-input").input_value() == "2019-12-31 06:30"
        session.assert_clean()
    finally:
        context.close()


def x_tick_labels(session: Session, chart_id: str = "price-chart") -> list[str]:
    """The time axis labels, each label's lines joined by " / " (plotly puts the date line under
    the first tick and wherever the date changes)."""
    return session.page.evaluate(
        "id => Array.from(document.querySelectorAll(`#${id} .xaxislayer-above .xtick text`),"
        " t => Array.from(t.childNodes, line => line.textContent).join(' / '))",
        chart_id,
    )


def test_the_pair_chart_labels_and_hovers_utc_times_in_a_new_york_browser(browser, site):
    context, session = _open(browser, site, locale="en-US", timezone_id="America/New_York")
    try:
        session.goto("/pairs/BTCUSD/?range=6h&end=2019-12-31T12:00Z")
        wait_for_chart(session)
        assert session.page.evaluate("new Date(Date.UTC(2019, 11, 31, 6)).getHours()") == 1  # 06:00 UTC

        assert x_tick_labels(session) == [
            "06:00 / 2019-12-31 UTC",
            *(f"{hour:02d}:00" for hour in range(7, 13)),
        ]
        box = session.page.locator("#price-chart .nsewdrag").first.bounding_box()
        session.page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        title = session.page.locator("#price-chart .hoverlayer .legendtitletext")
        title.wait_for()
        assert re.fullmatch(r"2019-12-31 (0[6-9]|1[01]):\d\d UTC", title.text_content())
        session.assert_clean()
    finally:
        context.close()


def test_day_ticks_of_the_week_chart_name_the_year_and_utc_once(session):
    session.goto("/pairs/NEOUSD/?range=7d")
    wait_for_chart(session)

    labels = x_tick_labels(session)

    assert labels[0].endswith(" / 2019 UTC")
    assert all(re.fullmatch(r"Dec \d\d", label) for label in [labels[0].split(" / ")[0], *labels[1:]])
    session.assert_clean()


# --- what a power user expects ---------------------------------------------------------------


def shown_pairs(session: Session) -> list[str]:
    return session.page.locator("tbody tr[data-pair]:visible").evaluate_all(
        "rows => rows.map(r => r.dataset.pair)"
    )


def test_overview_columns_sort_both_ways(session):
    session.goto("/")

    session.page.click('th[data-sort-key="price"] button')
    by_price = session.page.locator("tbody tr[data-pair]").evaluate_all(
        "rows => rows.map(r => Number(r.dataset.sortPrice))"
    )
    session.page.click('th[data-sort-key="price"] button')
    reversed_order = session.page.locator("tbody tr[data-pair]").evaluate_all(
        "rows => rows.map(r => Number(r.dataset.sortPrice))"
    )

    assert by_price == sorted(by_price, reverse=True)
    assert reversed_order == sorted(by_price)
    assert session.page.get_attribute('th[data-sort-key="price"]', "aria-sort") == "ascending"
    session.assert_clean()


def test_a_starred_pair_survives_a_reload_and_the_watchlist_filter_shows_only_it(session):
    session.goto("/")

    session.page.click('button[data-star="XRPUSD"]')
    session.page.reload()
    session.page.wait_for_selector('button[data-star="XRPUSD"][aria-pressed="true"]')
    session.page.check("#filter-watched")

    assert shown_pairs(session) == ["XRPUSD"]
    assert session.page.get_attribute('button[data-star="BTCUSD"]', "aria-pressed") == "false"
    session.assert_clean()


def test_log_scale_and_joined_gaps_are_one_click_away_and_the_page_links_to_compare_and_alerts(session):
    session.goto("/pairs/NEOUSD/")
    wait_for_chart(session)
    breaks = chart_trace(session)["y"].count(None)

    session.page.check("#opt-log")
    session.page.wait_for_function("document.getElementById('price-chart')._fullLayout.yaxis.type === 'log'")
    session.page.check("#opt-join")
    session.page.wait_for_selector('[data-page][data-options="log join"]')

    assert chart_trace(session)["y"].count(None) < breaks
    assert session.page.get_attribute("#compare-link", "href") == "/compare/?pairs=NEOUSD"
    assert session.page.get_attribute("#alerts-link", "href").startswith("/alerts/")
    session.assert_clean()


def test_the_pair_chart_refreshes_every_minute_and_keeps_the_zoom(session):
    session.page.clock.install()
    session.goto("/pairs/BTCUSD/")
    wait_for_chart(session)
    box = session.page.locator("#price-chart .nsewdrag").first.bounding_box()
    y = box["y"] + box["height"] / 2
    session.page.mouse.move(box["x"] + box["width"] * 0.3, y)
    session.page.mouse.down()
    session.page.mouse.move(box["x"] + box["width"] * 0.5, y, steps=5)
    session.page.mouse.up()
    x_range = "document.getElementById('price-chart')._fullLayout.xaxis.range"
    zoomed = session.page.evaluate(x_range)

    with session.page.expect_response(lambda r: "/pairs/BTCUSD/chart.json" in r.url):
        session.page.clock.fast_forward("01:01")
    session.page.wait_for_selector('[data-page][data-refreshes="1"]')

    assert session.page.evaluate(x_range) == zoomed  # a zoom made by hand survives the refresh
    session.assert_clean()


def test_dark_mode_follows_the_system_setting_on_the_page_and_the_chart(browser, site):
    context, session = _open(browser, site, color_scheme="dark")
    try:
        session.goto("/pairs/BTCUSD/")
        wait_for_chart(session)

        background = session.page.evaluate("getComputedStyle(document.body).backgroundColor")
        paper = session.page.evaluate("document.getElementById('price-chart')._fullLayout.paper_bgcolor")
        assert background == "rgb(13, 17, 23)"
        assert paper == "#0d1117"
        session.assert_clean()
    finally:
        context.close()


# --- the first day, numbers, refresh of the compare page ------------------------------------


def test_a_pair_on_its_first_day_shows_the_exchange_figures_labelled_as_the_exchange_s(session):
    session.goto("/")

    note = session.page.locator("#provisional")
    assert note.is_visible()
    assert "Provisional ranking." in note.text_content()
    assert "3 of 9 pairs have prices for fewer than half of the last 24 hours" in note.text_content()
    row = session.page.locator(f'tr[data-pair="{FIRST_DAY}"]')
    change = row.locator('td.change[data-source="exchange"]')
    # The recorded row: DAILY_CHANGE_RELATIVE 0.0474, VOLUME 213152.21708557, HIGH 0.00002654, LOW 0.00001988.
    assert change.text_content().split() == ["+4.74", "%", "Bitfinex", "24", "h"]
    extra = row.locator("td.col-extra").text_content()
    assert "213,152.21708557" in extra and "0.00002654 – 0.00001988" in extra
    assert session.page.locator("th.col-extra").text_content() == "Bitfinex 24 h volume, high, low"
    assert session.page.locator('tr[data-pair="BTCUSD"] td[data-source="exchange"]').count() == 0
    assert session.page.locator(f'tr[data-pair="{TINY}"] td[data-source="exchange"]').count() == 0
    session.assert_clean()


def test_counts_and_prices_carry_thousands_separators_on_every_page(session):
    session.goto("/")
    assert session.page.text_content('tr[data-pair="BTCUSD"] td.num:not(.col-rank)').split()[0] == "7,208.3"

    session.goto("/pairs/BTCUSD/")
    assert "7,208.3 USD" in session.page.text_content(".pair-facts")
    assert "1,365 of 1,440 min" in session.page.text_content("#stats-panel")
    assert "7,161.3 USD" in session.page.text_content("#chart-preview")
    wait_for_chart(session)
    assert "1,365 points" in session.page.text_content("#chart-note")
    layout = session.page.evaluate(
        "(() => { const l = document.getElementById('price-chart')._fullLayout;"
        " return [l.yaxis.hoverformat, l.yaxis.separatethousands, l.xaxis.hoverformat]; })()"
    )
    assert layout[0].startswith(",.") and layout[1:] == [True, "%Y-%m-%d %H:%M UTC"]
    assert any("," in label for label in y_tick_labels(session))  # 7,200 …

    session.goto("/compare/?pairs=" + ",".join(PAIRS))
    wait_for_chart(session, "compare-chart")
    assert session.page.evaluate("document.getElementById('compare-chart').data[0].hovertemplate").startswith(
        "%{y:0>+,.2f} %"
    )
    session.assert_clean()


def test_the_compare_page_shows_a_new_minute_without_a_reload(session, history_repo):
    # Last in the module: it stores a minute after the history's end.
    session.page.clock.install()
    session.goto("/compare/?pairs=BTCUSD,ETHUSD")
    wait_for_chart(session, "compare-chart")
    session.page.evaluate("window.__sameDocument = true")
    before = chart_trace(session, "compare-chart")["meta"]["end"]
    newest = pair_end("BTCUSD", history_repo)
    history_store(
        ticks=[
            Tick(
                exchange=EXCHANGE_BITFINEX,
                pair="BTCUSD",
                minute=newest,
                last_price=Decimal("7300"),
                source=TickSource.TICKER,
            )
        ],
        repo=history_repo,
    )
    cache.clear()

    with session.page.expect_response(lambda r: "/compare/chart.json" in r.url):
        session.page.clock.fast_forward("01:01")
    session.page.wait_for_selector('[data-page][data-refreshes="1"]')

    trace = chart_trace(session, "compare-chart")
    assert session.page.evaluate("window.__sameDocument") is True
    assert trace["meta"]["end"] > before
    assert trace["x"][-1] == newest.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert trace["y"][-1] > 0  # 7,300 is above BTCUSD's first price of the window
    session.assert_clean()


def test_the_market_page_draws_one_line_per_exchange_and_the_spread(session, history_repo, settings):
    # BTCUSD's last hour of real closes, also on Coinbase (+5) and Kraken (−3): same market, own names.
    settings.PRICES_EXCHANGES = ["bitfinex", "coinbase", "kraken"]
    end = pair_end("BTCUSD", history_repo)
    hour = selectors.ticks_between(pair="BTCUSD", start=end - 60 * MINUTE, end=end, repo=history_repo)
    history_store(
        ticks=[
            Tick(exchange, pair, t.minute, t.last_price + offset, source=TickSource.CANDLE)
            for exchange, pair, offset in (("coinbase", "BTC-USD", 5), ("kraken", "XBTUSD", -3))
            for t in hour
        ],
        repo=history_repo,
    )
    cache.clear()

    session.goto("/markets/BTC-USD/?range=1h")
    wait_for_chart(session, "market-chart")

    traces = session.page.evaluate(
        "() => document.getElementById('market-chart').data.map(t => [t.name, t.y.filter(y => y !== null)])"
    )
    lines = {name: ys for name, ys in traces if not name.endswith(" (lone minutes)")}
    assert list(lines) == ["Bitfinex BTCUSD", "Coinbase BTC-USD", "Kraken XBTUSD", "Spread"]
    assert lines["Coinbase BTC-USD"] == [float(t.last_price + 5) for t in hour]
    assert set(lines["Spread"]) == {8.0}
    assert (
        session.page.locator("#market-prices caption")
        .inner_text()
        .startswith("Newest price on each exchange. Spread 8 USD")
    )
    session.page.screenshot(path=str(SCREENSHOTS / "market.png"), full_page=True)
    session.assert_clean()
