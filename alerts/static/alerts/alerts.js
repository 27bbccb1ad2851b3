/* The alerts pages' script: the rule form (fields per condition, pair price, live backtest preview),
   drawing [data-figure] charts, and the signed-in user's thresholds on a pair page's chart.
   Everything works without it: the form shows every field and previews with its button. */
(function () {
  "use strict";

  // A decimal string with thousands separators and its own digits: "7240.5" → "7,240.5".
  function grouped(text) {
    var parts = String(text).split(".");
    parts[0] = parts[0].replace(/\B(?=(\d{3})+(?!\d))/g, ",");
    return parts.join(".");
  }

  function drawFigures(root) {
    if (!window.Plotly) return;
    root.querySelectorAll("[data-figure]").forEach(function (el) {
      var fig = JSON.parse(el.getAttribute("data-figure"));
      var config = { responsive: true, displaylogo: false, scrollZoom: false, displayModeBar: false };
      window.Plotly.newPlot(el, fig.data, fig.layout, config).then(function () {
        el.setAttribute("data-drawn", "true");
      });
    });
  }

  // --- rule form ------------------------------------------------------------------------

  function ruleForm(form) {
    var condition = form.querySelector("[name=condition]");
    var pair = form.querySelector("[name=pair]");
    var priceLine = document.getElementById("pair-price");
    var preview = document.getElementById("preview");
    var timer = null;
    var generation = 0;

    // Each parameter input says which conditions use it and, per condition, its label, help
    // and unit (data-conditions, data-texts: from the condition registry, see alerts/web/forms.py).
    function showParameters() {
      var quote = currentQuote();
      form.querySelectorAll("[data-conditions]").forEach(function (input) {
        var used = input.getAttribute("data-conditions").split(" ").indexOf(condition.value) !== -1;
        var field = input.closest(".field");
        input.disabled = !used;
        if (!field) return;
        field.hidden = !used;
        var texts = JSON.parse(input.getAttribute("data-texts") || "{}")[condition.value];
        if (!used || !texts) return;
        var label = field.querySelector("[data-label]");
        var help = field.querySelector("[data-help]");
        var unit = field.querySelector(".unit");
        if (label) label.textContent = texts.label;
        if (help) help.textContent = texts.help;
        if (unit) unit.textContent = texts.unit === "quote currency" && quote ? quote : texts.unit;
      });
    }

    function currentQuote() {
      var option = pairOption();
      return option ? option.getAttribute("data-quote") : "";
    }

    function pairOption() {
      var value = (pair.value || "").trim().toUpperCase();
      var list = document.getElementById(pair.getAttribute("list") || "");
      var options = list ? list.querySelectorAll("option") : [];
      for (var i = 0; i < options.length; i++) {
        if (options[i].value === value) return options[i];
      }
      return null;
    }

    function showPair() {
      var option = pairOption();
      var quote = currentQuote();
      showParameters();
      if (!priceLine) return;
      if (option) {
        priceLine.textContent = "Last price " + option.getAttribute("data-price") + " " + quote +
          " for the minute " + option.getAttribute("data-minute") + ".";
      } else {
        priceLine.textContent = pair.value ? "Not a tracked pair: pick one from the list." : "";
      }
    }

    function refreshPreview() {
      if (!preview || !pairOption()) return;
      var mine = ++generation;
      preview.setAttribute("aria-busy", "true");
      fetch(form.getAttribute("data-preview-url"), {
        method: "POST",
        body: new FormData(form),
        credentials: "same-origin",
        headers: { "X-Requested-With": "fetch" },
      })
        .then(function (response) { return response.text(); })
        .then(function (html) {
          if (mine !== generation) return; // an older answer arriving late
          preview.innerHTML = html;
          preview.removeAttribute("aria-busy");
          drawFigures(preview);
        })
        .catch(function () {
          preview.removeAttribute("aria-busy");
        });
    }

    function schedule() {
      clearTimeout(timer);
      timer = setTimeout(refreshPreview, 400);
    }

    condition.addEventListener("change", function () { showParameters(); schedule(); });
    pair.addEventListener("input", function () { showPair(); schedule(); });
    var exchange = form.querySelector("select[name=exchange]");
    if (exchange) {
      // Each exchange has its own pair names: suggest those of the one chosen.
      exchange.addEventListener("change", function () {
        pair.setAttribute("list", "pair-options-" + exchange.value);
        showPair();
        schedule();
      });
    }
    form.addEventListener("input", function (event) {
      if (event.target !== pair && event.target !== condition) schedule();
    });
    var button = document.getElementById("preview-button");
    if (button) {
      button.addEventListener("click", function (event) {
        event.preventDefault();
        refreshPreview();
      });
    }
    showParameters();
    showPair();
    if (!preview.querySelector("[data-preview=ready]")) refreshPreview();
  }

  // --- pair page: the user's thresholds as horizontal lines --------------------------------

  function pairThresholds(page) {
    var url = page.getAttribute("data-thresholds-url");
    var chartId = page.getAttribute("data-chart-id");
    if (!url || !chartId) return;
    fetch(url, { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : { thresholds: [] }; })
      .then(function (body) {
        if (!body.thresholds.length) return;
        var shapes = body.thresholds.map(function (t) {
          return {
            type: "line", xref: "paper", x0: 0, x1: 1, yref: "y", y0: Number(t.threshold), y1: Number(t.threshold),
            line: { color: "#D55E00", width: 1.2, dash: "dash" }, name: "alert-threshold",
            label: { text: t.name + " " + grouped(t.threshold), textposition: "end", font: { size: 11, color: "#D55E00" } },
          };
        });
        page.setAttribute("data-thresholds", String(shapes.length));
        function apply() {
          var chart = document.getElementById(chartId);
          if (!chart || !chart.layout || !window.Plotly) return;
          var current = chart.layout.shapes || [];
          if (current.some(function (s) { return s.name === "alert-threshold"; })) return;
          // The page script redraws the chart on every range change: put the lines back each time.
          window.Plotly.relayout(chart, { shapes: current.concat(shapes) });
        }
        function hook() {
          var chart = document.getElementById(chartId);
          if (chart && chart.on) chart.on("plotly_afterplot", apply);
          apply();
        }
        // The dashboards' script draws the chart after the first paint; wait for it.
        if (page.getAttribute("data-state") === "ready") hook();
        else {
          page.addEventListener("chart:drawn", hook, { once: true });
          page.dispatchEvent(new CustomEvent("chart:wanted")); // the user's lines need the interactive chart
        }
      })
      .catch(function () { /* the chart is still useful without the lines */ });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("rule-form");
    if (form) ruleForm(form);
    drawFigures(document);
    document.querySelectorAll("[data-autosubmit]").forEach(function (el) {
      el.addEventListener("change", function () { el.form.submit(); });
    });
    var pairPage = document.querySelector("[data-thresholds-url]");
    if (pairPage) {
      // Wait for the dashboards' script to draw the chart first.
      window.addEventListener("load", function () { pairThresholds(pairPage); });
    }
  });
})();
