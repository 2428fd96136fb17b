/* devfleet dashboard: renders Plotly figures, drill-down clicks, zoom refetch, copy buttons.
   No inline handlers anywhere: everything is wired here (CSP script-src 'self'). */
(function () {
  "use strict";

  var CONFIG = { responsive: true, displaylogo: false, modeBarButtonsToRemove: ["lasso2d", "select2d"] };
  var pending = 0;
  // Wall screens (the CSS switches at the same width): bigger text, taller fixed-height charts.
  var SCALE = window.matchMedia("(min-width: 2200px)").matches ? 1.45 : 1;

  function markReady() {
    document.body.setAttribute("data-charts-pending", String(pending));
  }

  function drill(el) {
    el.on("plotly_click", function (ev) {
      var pt = ev && ev.points && ev.points[0];
      var url = pt && pt.customdata;
      if (typeof url === "string" && url.charAt(0) === "/" && url.charAt(1) !== "/") {
        window.location.href = url;
      }
    });
  }

  function plot(el, fig) {
    var empty = !fig.data || fig.data.every(function (t) {
      return !(t.x && t.x.length) && !(t.y && t.y.length) && !(t.q1 && t.q1.length);
    });
    el.classList.toggle("chart-empty", empty);
    if (empty) {
      // Say what is empty and why (the server's reason), never an untitled box.
      var title = fig.layout && fig.layout.title && fig.layout.title.text;
      var head = document.createElement("p");
      head.className = "chart-title";
      head.textContent = title || el.getAttribute("data-title") || "Chart";
      var why = document.createElement("p");
      why.className = "muted";
      why.textContent = fig.empty || "no data in this range";
      if (el.data && window.Plotly.purge) { window.Plotly.purge(el); }
      el.innerHTML = "";
      el.appendChild(head);
      el.appendChild(why);
      return Promise.resolve();
    }
    return window.Plotly.react(el, fig.data, forScreen(fig.layout), CONFIG);
  }

  function forScreen(layout) {
    if (SCALE === 1 || !layout) { return layout; }
    var l = JSON.parse(JSON.stringify(layout));
    function bump(obj, size) {
      if (!obj) { return; }
      obj.font = obj.font || {};
      obj.font.size = Math.round((obj.font.size || size) * SCALE);
    }
    bump(l, 12);
    bump(l.legend, 11);
    bump(l.title, 13);
    (l.annotations || []).forEach(function (a) { bump(a, 10); });
    if (l.height) { l.height = Math.round(l.height * SCALE); }
    if (l.margin) {
      ["l", "r", "b", "t"].forEach(function (k) {
        if (l.margin[k]) { l.margin[k] = Math.round(l.margin[k] * SCALE); }
      });
    }
    return l;
  }

  function toIso(value) {
    var s = String(value).replace(" ", "T");
    if (s.length === 10) { s += "T00:00:00"; }
    return s + "Z";
  }

  function load(el, query) {
    pending += 1;
    markReady();
    el.classList.add("loading");
    return fetch(el.getAttribute("data-chart-src") + "?" + query, { credentials: "same-origin" })
      .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.json(); })
      .then(function (fig) { return plot(el, fig); })
      .catch(function (err) { el.innerHTML = '<p class="muted">Chart unavailable (' + err.message + ").</p>"; })
      .then(function () { el.classList.remove("loading"); pending -= 1; markReady(); });
  }

  function remoteChart(el) {
    var base = "range=" + encodeURIComponent(el.getAttribute("data-range") || "6h");
    load(el, base).then(function () {
      if (!el.on) { return; }
      drill(el);
      el.on("plotly_relayout", function (ev) {
        if (el.getAttribute("data-busy") === "1") { return; }
        var q = null;
        if (ev["xaxis.range[0]"] !== undefined) {
          q = "since=" + encodeURIComponent(toIso(ev["xaxis.range[0]"])) +
              "&until=" + encodeURIComponent(toIso(ev["xaxis.range[1]"]));
        } else if (ev["xaxis.autorange"]) {
          q = base;
        }
        if (q === null) { return; }
        el.setAttribute("data-busy", "1");
        el.setAttribute("data-zoom", q);
        load(el, q).then(function () { el.removeAttribute("data-busy"); });
      });
    });
  }

  function inlineChart(el) {
    var source = document.getElementById(el.getAttribute("data-figure"));
    if (!source) { return; }
    plot(el, JSON.parse(source.textContent)).then(function () { if (el.on) { drill(el); } });
  }

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "offscreen";
    document.body.appendChild(area);
    area.select();
    try { document.execCommand("copy"); } finally { document.body.removeChild(area); }
    return Promise.resolve();
  }

  function wireCopy(btn) {
    btn.addEventListener("click", function () {
      var target = document.getElementById(btn.getAttribute("data-copy"));
      var text = target ? target.textContent : btn.getAttribute("data-copy-text") || "";
      copyText(text.trim()).then(function () {
        btn.setAttribute("data-copied", "1");
        var old = btn.textContent;
        btn.textContent = "Copied";
        setTimeout(function () { btn.textContent = old; }, 1500);
      });
    });
  }

  // Pages left on a wall screen (data-refresh="seconds") reload themselves while visible.
  function autoRefresh() {
    var seconds = parseInt(document.body.getAttribute("data-refresh") || "0", 10);
    if (!(seconds > 0)) { return; }
    window.setInterval(function () {
      if (document.visibilityState === "visible" && pending === 0) { window.location.reload(); }
    }, seconds * 1000);
  }

  document.addEventListener("DOMContentLoaded", function () {
    markReady();
    autoRefresh();
    document.querySelectorAll("[data-copy], [data-copy-text]").forEach(wireCopy);
    document.querySelectorAll("form[data-autosubmit] select").forEach(function (sel) {
      sel.addEventListener("change", function () { sel.form.submit(); });
    });
    if (!window.Plotly) { return; }
    document.querySelectorAll("[data-figure]").forEach(inlineChart);
    document.querySelectorAll("[data-chart-src]").forEach(remoteChart);
  });
})();
