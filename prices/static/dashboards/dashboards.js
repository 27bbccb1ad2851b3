/* cryptotracker dashboards: progressive enhancement of the server-rendered pages (no build step).
 *
 * Overview: the filter works as you type, a click anywhere on a row opens the pair, and the
 * freshness line and table are re-fetched every minute (HTML fragment, no full reload).
 * Pair and compare pages: the range and view links redraw the chart from JSON without a
 * reload; on the pair page the statistics follow the visible window (range slider, zoom).
 * Without JavaScript every link and form still works; failures are shown on the page.
 */
(function () {
  "use strict";

  document.documentElement.classList.add("js");

  var REFRESH_MS = 60 * 1000;

  // Counts with thousands separators whatever the browser's locale, like the server's: 1,365.
  function count(n) {
    return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  }

  function ready(fn) {
    if (document.readyState !== "loading") fn();
    else document.addEventListener("DOMContentLoaded", fn);
  }

  async function fetchOk(url, type) {
    var response = await fetch(url, { headers: { Accept: type }, credentials: "same-origin" });
    if (!response.ok) {
      var detail = "HTTP " + response.status;
      try {
        if (type === "application/json") detail = (await response.json()).error || detail;
      } catch (ignored) {
        /* keep the status line */
      }
      throw new Error(detail);
    }
    return type === "application/json" ? response.json() : response.text();
  }

  function showProblem(node, message) {
    if (!node) return;
    node.textContent = message;
    node.hidden = !message;
  }

  // --- overview ------------------------------------------------------------------------

  function initOverview(page) {
    var form = page.querySelector("#overview-filter");
    var live = page.querySelector("#overview-live");
    var status = page.querySelector("#filter-status");
    var problem = page.querySelector("#refresh-problem");
    if (!form || !live) return;
    var lastRefresh = Date.now();
    var inFlight = false;

    function normalise(text) {
      return text.toUpperCase().replace(/[^A-Z0-9]/g, "");
    }

    function queryString() {
      var params = new URLSearchParams();
      var here = new URLSearchParams(location.search);
      if (here.get("exchange")) params.set("exchange", here.get("exchange"));
      if (here.get("end")) params.set("end", here.get("end"));
      if (form.elements.quote.value) params.set("quote", form.elements.quote.value);
      if (form.elements.q.value.trim()) params.set("q", form.elements.q.value.trim());
      var text = params.toString();
      return text ? "?" + text : "";
    }

    function applyFilter() {
      var quote = form.elements.quote.value;
      var needle = normalise(form.elements.q.value);
      var shown = 0;
      var rows = live.querySelectorAll("tbody tr[data-pair]");
      var onlyWatched = form.elements.watched && form.elements.watched.checked;
      rows.forEach(function (row) {
        var match = (!quote || row.dataset.quote === quote) && (!needle || normalise(row.dataset.pair).includes(needle)) &&
          (!onlyWatched || watched.has(row.dataset.pair));
        row.hidden = !match;
        if (match) shown += 1;
      });
      if (status) {
        status.textContent = shown === rows.length ? "All " + count(rows.length) + " pairs shown" : count(shown) + " of " + count(rows.length) + " pairs shown";
      }
      history.replaceState(null, "", location.pathname + queryString());
    }

    // --- watchlist: stars on the server for signed-in users, in localStorage otherwise ---
    var STORE = "cryptotracker.watchlist";
    var serverList = page.dataset.watchlist ? JSON.parse(page.dataset.watchlist) : null;
    var watched = new Set(serverList || readLocal());

    function readLocal() {
      try {
        return JSON.parse(localStorage.getItem(STORE) || "[]");
      } catch (ignored) {
        return [];
      }
    }

    function csrfToken() {
      var match = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
      return match ? decodeURIComponent(match[1]) : "";
    }

    function paintStars() {
      live.querySelectorAll("button[data-star]").forEach(function (button) {
        var on = watched.has(button.dataset.star);
        button.setAttribute("aria-pressed", String(on));
        button.setAttribute("aria-label", (on ? "Stop watching " : "Watch ") + button.dataset.star);
      });
    }

    async function toggleStar(pair) {
      var on = !watched.has(pair);
      if (on) watched.add(pair);
      else watched.delete(pair);
      paintStars();
      applyFilter();
      if (serverList === null) {
        localStorage.setItem(STORE, JSON.stringify(Array.from(watched)));
        return;
      }
      try {
        var response = await fetch(page.dataset.watchlistUrl, {
          method: "POST",
          credentials: "same-origin",
          headers: { "X-CSRFToken": csrfToken(), "Content-Type": "application/x-www-form-urlencoded" },
          body: new URLSearchParams({ pair: pair, starred: String(on) }),
        });
        if (!response.ok) throw new Error("HTTP " + response.status);
        watched = new Set((await response.json()).pairs);
        paintStars();
        showProblem(problem, "");
      } catch (error) {
        showProblem(problem, "Could not save the watchlist (" + error.message + ").");
      }
    }

    live.addEventListener("click", function (event) {
      var star = event.target.closest("button[data-star]");
      if (star) {
        event.preventDefault();
        toggleStar(star.dataset.star);
        return;
      }
      var header = event.target.closest("th[data-sort-key] button");
      if (header) sortBy(header.closest("th").dataset.sortKey);
    });

    // --- sortable columns ---------------------------------------------------------------
    var sort = { key: "rank", descending: false };

    function sortValue(row, key) {
      var raw = row.dataset["sort" + key.charAt(0).toUpperCase() + key.slice(1)];
      if (key === "name") return raw;
      return raw === "" || raw === "None" || raw === undefined ? null : Number(raw);
    }

    function applySort() {
      var body = live.querySelector("tbody");
      if (!body) return;
      var rows = Array.from(body.querySelectorAll("tr[data-pair]"));
      rows.sort(function (a, b) {
        var x = sortValue(a, sort.key);
        var y = sortValue(b, sort.key);
        if (x === null || y === null) return x === y ? 0 : x === null ? 1 : -1; // blanks last
        var order = typeof x === "string" ? x.localeCompare(y) : x - y;
        return sort.descending ? -order : order;
      });
      rows.forEach(function (row) { body.appendChild(row); });
      live.querySelectorAll("th[data-sort-key]").forEach(function (th) {
        var state = th.dataset.sortKey === sort.key ? (sort.descending ? "descending" : "ascending") : "none";
        th.setAttribute("aria-sort", state);
      });
    }

    function sortBy(key) {
      // A first click sorts names A→Z and numbers largest first; a second click reverses.
      sort = sort.key === key ? { key: key, descending: !sort.descending } : { key: key, descending: key !== "name" && key !== "rank" };
      applySort();
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      applyFilter();
    });
    form.addEventListener("input", applyFilter);
    form.addEventListener("change", applyFilter);

    live.addEventListener("click", function (event) {
      if (event.defaultPrevented || event.button !== 0) return;
      if (event.target.closest("a, button, input, select, label")) return;
      var row = event.target.closest("tr[data-href]");
      if (!row) return;
      if (String(window.getSelection ? window.getSelection() : "").length) return; // selecting text
      if (event.metaKey || event.ctrlKey) window.open(row.dataset.href, "_blank", "noopener");
      else window.location.assign(row.dataset.href);
    });

    async function refresh() {
      if (inFlight) return;
      inFlight = true;
      try {
        var html = await fetchOk(live.dataset.liveUrl + queryString(), "text/html");
        var focused = document.activeElement && document.activeElement.closest ? document.activeElement.closest("tr[data-pair]") : null;
        var focusedPair = focused ? focused.dataset.pair : null;
        live.innerHTML = html;
        paintStars();
        applySort();
        applyFilter();
        if (focusedPair) {
          var link = live.querySelector('tr[data-pair="' + CSS.escape(focusedPair) + '"] a');
          if (link) link.focus();
        }
        live.dataset.refreshes = String(Number(live.dataset.refreshes || 0) + 1);
        showProblem(problem, "");
      } catch (error) {
        showProblem(problem, "Could not refresh the table (" + error.message + "); trying again in a minute.");
      } finally {
        lastRefresh = Date.now();
        inFlight = false;
      }
    }

    paintStars();
    applyFilter();
    setInterval(function () {
      if (!document.hidden) refresh();
    }, REFRESH_MS);
    document.addEventListener("visibilitychange", function () {
      if (!document.hidden && Date.now() - lastRefresh >= REFRESH_MS) refresh();
    });
  }

  // --- charts (pair and compare pages) ----------------------------------------------------

  // Resolves in a new task after the next frame has been painted.
  function afterPaint() {
    return new Promise(function (resolve) {
      requestAnimationFrame(function () { setTimeout(resolve, 0); });
    });
  }

  function axisValue(value) {
    return typeof value === "number" ? new Date(value).toISOString() : String(value);
  }

  // plotly.js date values: ms, "2019-12-31T06:00:00Z" (ours) or "2019-12-31 06:12:33.5" (UTC).
  function toMs(value) {
    if (typeof value === "number") return value;
    var text = String(value).replace(" ", "T");
    if (!/(Z|[+-]\d\d:?\d\d)$/.test(text)) text += "Z";
    return Date.parse(text);
  }

  // The y range of what is visible between x0 and x1 on the price axis (y), or null.
  function visibleYRange(graph, x0, x1) {
    var lo = Infinity;
    var hi = -Infinity;
    graph.data.forEach(function (trace) {
      if (trace.visible === false || trace.visible === "legendonly") return;
      if (trace.yaxis && trace.yaxis !== "y") return;
      var highs = trace.type === "candlestick" ? trace.high : trace.y;
      var lows = trace.type === "candlestick" ? trace.low : trace.y;
      if (!trace.x || !highs) return;
      for (var i = 0; i < trace.x.length; i += 1) {
        if (trace.x[i] === null || highs[i] === null || highs[i] === undefined) continue;
        var x = toMs(trace.x[i]);
        if (x < x0 || x > x1) continue;
        if (lows[i] < lo) lo = lows[i];
        if (highs[i] > hi) hi = highs[i];
      }
    });
    return lo <= hi ? [lo, hi] : null;
  }

  // After a zoom or a slider drag, fit the price axis to the visible prices (plotly.js keeps
  // the whole window's y range, so a small move looks flat); Autoscale returns to the window.
  function rescaleY(graph, event) {
    var axis = graph.layout.yaxis || {};
    if (event["xaxis.autorange"]) {
      return axis.autorange ? null : window.Plotly.relayout(graph, { "yaxis.autorange": true });
    }
    if (event["xaxis.range"] === undefined && event["xaxis.range[0]"] === undefined) return null;
    var range = graph.layout.xaxis.range;
    var found = visibleYRange(graph, toMs(range[0]), toMs(range[1]));
    if (!found) return null;
    var log = axis.type === "log";
    var lo = log ? Math.log10(found[0]) : found[0];
    var hi = log ? Math.log10(found[1]) : found[1];
    var pad = hi > lo ? (hi - lo) * 0.06 : Math.abs(hi) * 0.005 || 1;
    return window.Plotly.relayout(graph, { "yaxis.range": [lo - pad, hi + pad] });
  }

  // On a narrow chart (a phone) the note about downsampling does not fit above the plot: the
  // caption under the chart shows it instead (CSS), so the chart drops it.
  function fitLayout(graph, layout) {
    if (graph.clientWidth < 600 && layout.annotations) {
      layout.annotations.forEach(function (note) {
        if (note.name === "downsampling") note.visible = false;
      });
    }
    return layout;
  }

  // Dark mode follows the system: the figures are drawn light and recoloured here.
  var darkQuery = window.matchMedia ? window.matchMedia("(prefers-color-scheme: dark)") : null;

  function applyTheme(graph) {
    if (!darkQuery || !darkQuery.matches) return null;
    var grid = "#30363d";
    var muted = "#9aa5b1";
    var update = {
      paper_bgcolor: "#0d1117",
      plot_bgcolor: "#0d1117",
      "font.color": "#e6edf3",
      "xaxis.gridcolor": grid,
      "xaxis.tickfont.color": muted,
      "xaxis.rangeslider.bgcolor": "#161b22",
      "yaxis.gridcolor": grid,
      "yaxis.zerolinecolor": grid,
      "yaxis.tickfont.color": muted,
      "yaxis.title.font.color": muted,
    };
    if (graph.layout.yaxis2) {
      update["yaxis2.gridcolor"] = grid;
      update["yaxis2.tickfont.color"] = muted;
      update["yaxis2.title.font.color"] = muted;
    }
    (graph.layout.annotations || []).forEach(function (note, i) {
      if (note.name !== "stopped") update["annotations[" + i + "].font.color"] = muted;
    });
    return window.Plotly.relayout(graph, update);
  }

  function initChart(page, options) {
    var graph = document.getElementById(page.dataset.chartId);
    var embedded = document.getElementById(page.dataset.chartId + "-figure");
    if (!graph || !embedded || !window.Plotly) return;
    var initial = JSON.parse(embedded.textContent);
    var figure = page.querySelector(".chart");
    var note = page.querySelector("#chart-note");
    var problem = page.querySelector("#chart-problem");
    var config = JSON.parse(page.dataset.chartConfig || "{}");
    var state = JSON.parse(page.dataset.chartState || "{}");
    var redrawing = true; // until the first draw is done
    // The first draw waits for the next frame, so the server-rendered page (price, statistics)
    // is painted first and the draw is a task of its own, not part of the script's evaluation.
    var drawn = afterPaint().then(function () {
      var preview = graph.querySelector(".chart-preview");
      if (preview) preview.remove();
      return window.Plotly.newPlot(graph, initial.data, fitLayout(graph, initial.layout), config);
    });

    function markCurrent() {
      page.querySelectorAll("[data-option]").forEach(function (link) {
        link.setAttribute("aria-current", String(state[link.dataset.option] === link.dataset.value));
      });
    }

    function stateParams(next) {
      var params = new URLSearchParams();
      Object.keys(next).forEach(function (key) {
        if (next[key]) params.set(key, next[key]);
      });
      return params;
    }

    async function load(change) {
      var next = Object.assign({}, state, change);
      var params = stateParams(next);
      figure.setAttribute("aria-busy", "true");
      page.dataset.state = "loading";
      try {
        var payload = await fetchOk(page.dataset.chartUrl + "?" + params, "application/json");
        redrawing = true;
        await window.Plotly.react(graph, payload.figure.data, fitLayout(graph, payload.figure.layout), config);
        await applyTheme(graph);
        await applyOptions();
        state = next;
        markCurrent();
        if (note) note.textContent = payload.note;
        if (options.afterLoad) options.afterLoad(payload);
        history.replaceState(null, "", location.pathname + "?" + params);
        showProblem(problem, "");
      } catch (error) {
        showProblem(problem, "Could not load the chart (" + error.message + ").");
      } finally {
        redrawing = false;
        figure.setAttribute("aria-busy", "false");
        page.dataset.state = "ready";
      }
    }

    page.querySelectorAll("[data-option]").forEach(function (link) {
      link.addEventListener("click", function (event) {
        if (event.metaKey || event.ctrlKey || event.shiftKey) return; // let the browser open a tab
        event.preventDefault();
        var change = {};
        change[link.dataset.option] = link.dataset.value;
        load(change);
      });
    });

    var timer = null;
    function onRelayout(event) {
      if (redrawing || !Object.keys(event).some(function (key) { return /^xaxis\.(range|autorange)/.test(key); })) return;
      rescaleY(graph, event);
      if (!options.onVisibleRange) return;
      clearTimeout(timer);
      timer = setTimeout(function () {
        var range = graph.layout.xaxis && graph.layout.xaxis.range;
        if (range) options.onVisibleRange(state, axisValue(range[0]), axisValue(range[1]));
      }, 300);
    }

    // --- chart options: log scale, joined short gaps, refresh every minute --------------
    var logBox = page.querySelector("#opt-log");
    var joinBox = page.querySelector("#opt-join");
    var refreshBox = page.querySelector("#opt-refresh");
    var JOIN_MS = 5 * 60 * 1000;

    function joinShortGaps(xs, ys) {
      var outX = [];
      var outY = [];
      for (var i = 0; i < xs.length; i += 1) {
        if (ys[i] === null && xs[i] === null && i > 0 && i + 1 < xs.length && xs[i - 1] !== null && xs[i + 1] !== null &&
            toMs(xs[i + 1]) - toMs(xs[i - 1]) <= JOIN_MS) continue;
        outX.push(xs[i]);
        outY.push(ys[i]);
      }
      return [outX, outY];
    }

    async function applyOptions() {
      var wanted = logBox && logBox.checked ? "log" : "linear";
      var current = (graph.layout.yaxis || {}).type || "linear";
      if (logBox && current !== wanted) { // a relayout redraws the whole chart: only when it changes
        await window.Plotly.relayout(graph, { "yaxis.type": wanted, "yaxis.autorange": true });
      }
      if (joinBox && joinBox.checked) {
        var xs = [];
        var ys = [];
        var indices = [];
        graph.data.forEach(function (trace, i) {
          if (trace.type !== "scatter" || !trace.x) return;
          var joined = joinShortGaps(trace.x, trace.y);
          xs.push(joined[0]);
          ys.push(joined[1]);
          indices.push(i);
        });
        if (indices.length) await window.Plotly.restyle(graph, { x: xs, y: ys }, indices);
      }
      page.dataset.options = [logBox && logBox.checked ? "log" : "", joinBox && joinBox.checked ? "join" : ""].join(" ").trim();
    }

    [logBox, joinBox].forEach(function (box) {
      if (!box) return;
      box.addEventListener("change", function () {
        if (box === joinBox && !joinBox.checked) load({}); // the server's breaks come back with a reload
        else applyOptions();
      });
    });

    if (refreshBox) {
      setInterval(function () {
        // Only a window that ends at the newest data moves; a date chosen in the past stays put.
        if (refreshBox.checked && !document.hidden && !state.end) load({}).then(function () {
          page.dataset.refreshes = String(Number(page.dataset.refreshes || 0) + 1);
        });
      }, REFRESH_MS);
    }

    markCurrent();
    if (options.pending) drawn = drawn.then(function () { return options.pending(load); });
    drawn
      .then(function () {
        graph.on("plotly_relayout", onRelayout);
        return applyTheme(graph);
      })
      .then(function () { return applyOptions(); })
      .finally(function () {
        redrawing = false;
        figure.setAttribute("aria-busy", "false");
        page.dataset.state = "ready";
        page.dispatchEvent(new CustomEvent("chart:drawn"));
      });
    if (darkQuery && darkQuery.addEventListener) {
      darkQuery.addEventListener("change", function () {
        load({});
      });
    }
  }

  // plotly.js (1.2 MB) is loaded on demand, once: its evaluation and the first draw are most of
  // a chart page's script time, so the pair page shows the server's SVG of the chart until then.
  var plotlyLoading = null;

  function loadPlotly(url) {
    if (window.Plotly) return Promise.resolve();
    if (!plotlyLoading) {
      plotlyLoading = new Promise(function (resolve, reject) {
        var script = document.createElement("script");
        script.src = url;
        script.onload = function () { resolve(); };
        script.onerror = function () {
          plotlyLoading = null;
          reject(new Error("could not load plotly.js"));
        };
        document.head.appendChild(script);
      });
    }
    return plotlyLoading;
  }

  // The pair page upgrades its SVG preview to the interactive chart at the first sign of use:
  // a pointer or touch on the chart, keyboard focus in it or in the options, a range, chart or
  // option control, the first refresh a minute later, or a "chart:wanted" event on the page.
  function whenWanted(page, upgrade) {
    var figure = page.querySelector(".chart");
    var done = false;
    var pending = null;
    var events = ["pointerover", "touchstart", "focusin"];

    function go(change) {
      if (change && !pending) pending = change;
      if (done) return;
      done = true;
      events.forEach(function (name) { figure.removeEventListener(name, onIntent); });
      clearTimeout(timer);
      upgrade(function () { return pending; });
    }
    function onIntent() { go(null); }
    events.forEach(function (name) { figure.addEventListener(name, onIntent, { passive: true }); });
    page.addEventListener("chart:wanted", onIntent); // e.g. alerts.js has thresholds to draw
    page.querySelectorAll("[data-option]").forEach(function (link) {
      link.addEventListener("click", function handler(event) {
        if (done || event.metaKey || event.ctrlKey || event.shiftKey) return;
        event.preventDefault();
        var change = {};
        change[link.dataset.option] = link.dataset.value;
        go(change);
      });
    });
    page.querySelectorAll(".chart-options input").forEach(function (box) {
      box.addEventListener("change", function () { go({}); });
      box.addEventListener("focus", function () { go(null); });
    });
    var timer = setTimeout(function () { go({}); }, REFRESH_MS);
  }

  // Fetch plotly.js into the HTTP cache once the page has loaded and the browser is idle, so
  // that the first touch draws the chart without waiting for the network.
  function prefetchWhenIdle(url) {
    function prefetch() {
      var link = document.createElement("link");
      link.rel = "prefetch";
      link.as = "script";
      link.href = url;
      document.head.appendChild(link);
    }
    function idle() {
      if (window.requestIdleCallback) window.requestIdleCallback(prefetch, { timeout: 5000 });
      else setTimeout(prefetch, 1000);
    }
    if (document.readyState === "complete") idle();
    else window.addEventListener("load", idle, { once: true });
  }

  function initPair(page) {
    var problem = page.querySelector("#chart-problem");
    if (window.Plotly || !page.dataset.plotlyUrl) {
      drawPair(page, null);
      return;
    }
    prefetchWhenIdle(page.dataset.plotlyUrl);
    whenWanted(page, function (pendingChange) {
      var figure = page.querySelector(".chart");
      figure.setAttribute("aria-busy", "true");
      loadPlotly(page.dataset.plotlyUrl)
        .then(function () { drawPair(page, pendingChange); })
        .catch(function (error) {
          figure.setAttribute("aria-busy", "false");
          showProblem(problem, "Could not load the interactive chart (" + error.message + ").");
        });
    });
  }

  function drawPair(page, pendingChange) {
    var stats = page.querySelector("#stats-panel");
    var problem = page.querySelector("#chart-problem");
    var request = 0;
    initChart(page, {
      pending: pendingChange && function (load) {
        var change = pendingChange();
        return change ? load(change) : null;
      },
      afterLoad: function (payload) {
        request += 1; // a late answer for the old range must not overwrite these statistics
        stats.innerHTML = payload.stats_html;
      },
      onVisibleRange: async function (state, start, end) {
        var mine = ++request;
        var params = new URLSearchParams({ range: state.range, start: start, end: end });
        if (state.end) params.set("window_end", state.end);
        if (state.exchange) params.set("exchange", state.exchange);
        try {
          var html = await fetchOk(page.dataset.statsUrl + "?" + params, "text/html");
          if (mine === request) stats.innerHTML = html;
        } catch (error) {
          showProblem(problem, "Could not load the statistics of the visible window (" + error.message + ").");
        }
      },
    });
  }

  // --- the date/time control: one format (YYYY-MM-DD HH:MM, UTC) whatever the locale --------

  var END_FORMAT = /^\s*(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2})(?::(\d{2}))?\s*(?:UTC|Z)?\s*$/i;

  // An error message for the control's text, or "" when it is a real UTC date and time.
  function endError(text) {
    var match = END_FORMAT.exec(text);
    if (!match) return "Enter the end as YYYY-MM-DD HH:MM (24-hour, UTC), e.g. 2019-12-31 12:00.";
    var parts = match.slice(1, 7).map(function (part) { return Number(part || 0); });
    var date = new Date(Date.UTC(parts[0], parts[1] - 1, parts[2], parts[3], parts[4], parts[5]));
    if (date.getUTCMonth() !== parts[1] - 1 || date.getUTCDate() !== parts[2] || parts[3] > 23 || parts[4] > 59) {
      return "There is no such UTC date and time: " + text.trim() + ".";
    }
    return "";
  }

  function initEndControl(form) {
    var input = form.querySelector("[name=end]");
    var error = form.querySelector(".end-control__error");
    if (!input || !error) return;
    form.noValidate = true; // our message, in words, rather than the browser's bubble
    function check() {
      var message = endError(input.value);
      error.textContent = message;
      error.hidden = !message;
      input.setAttribute("aria-invalid", String(Boolean(message)));
      return !message;
    }
    form.addEventListener("submit", function (event) {
      if (!check()) {
        event.preventDefault();
        input.focus();
      }
    });
    input.addEventListener("input", function () {
      if (input.getAttribute("aria-invalid") === "true") check();
    });
  }

  ready(function () {
    document.querySelectorAll("form[data-end-control]").forEach(initEndControl);
    var page = document.querySelector("[data-page]");
    if (!page) return;
    if (page.dataset.page === "overview") initOverview(page);
    else if (page.dataset.page === "pair") initPair(page);
    else if (page.dataset.page === "compare") initChart(page, {});
    else if (page.dataset.page === "market") initChart(page, {});
  });
})();
