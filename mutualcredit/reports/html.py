"""A settlement report as one self-contained HTML page with charts.

The page is a single file a coordinator can mail, put on a USB stick or open
on a phone with no network: the charting library (Chart.js, MIT, vendored in
``vendor/`` with its licence) and the report's data are inlined, and a
Content-Security-Policy forbids loading anything from anywhere.

**Input.** :func:`render_settlement_report_html` consumes a dictionary; every
amount in it is a decimal *string* as :func:`~mutualcredit.domain.amounts.format_amount`
writes it, never a float::

    {
      "network": "Fora do Eixo",
      "currency": "CARD",
      "period": {"first": "2026-03-01", "last": "2026-03-31"},
      "generated_at": "2026-04-01T03:00:00-03:00",
      "collectives": [
        {"slug": "cubo", "name": "Espaço Cubo", "balance": "120.00", "position": "-30.00"}
      ],
      "turnover_per_day": [{"date": "2026-03-01", "amount": "45.00"}],
      "members": [
        {"handle": "ana", "name": "Ana", "collective": "cubo", "balance": "-30.00",
         "limit_lower": "-100.00", "turnover": "12.00", "status": "near_limit"}
      ],
      "netting": [{"from": "cubo", "to": "palafita", "amount": "30.00"}]
    }

A member's ``hours`` (hours of service paid, a decimal string) is optional.
``balance`` of a collective is its fund; ``position`` is the balance of
``network:clearing:<slug>`` (negative: it owes the network).  A member's
``status`` is ``ok``, ``near_limit`` or ``over_limit`` and may be left out.

**Safety.** Every name and memo is data.  Tables are rendered here with every
value HTML-escaped (and ``dir="auto"`` so right-to-left names read right).
The charts read the same data from a ``<script type="application/json">``
block in which ``<``, ``>`` and ``&`` are written as JSON ``\\u003c`` escapes,
so no text can close the block or open a tag.  The policy allows only the two
inline scripts whose SHA-256 hashes it lists, so even markup that slipped
through could not run a script.

**Charts.** Positions per collective (red owes, green is owed), balances per
collective and turnover per day.  Decimal strings become JavaScript numbers
only at that rendering boundary; tooltips show the exact strings.  After
drawing, the script checks that each canvas holds ink and writes
``data-charts-drawn="3"`` on ``<body>`` (or ``data-script-error`` on any
error), so a headless browser can tell that the page really worked.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from functools import cache
from html import escape
from importlib import resources
from typing import Any

_DECIMAL_RE = re.compile(r"^-?[0-9]+(?:\.[0-9]+)?$")
_STATUS_LABELS = {"ok": "ok", "near_limit": "near limit", "over_limit": "over limit"}

_STYLE = """
:root { color-scheme: light; --ink: #1b1b1b; --muted: #5f6368; --line: #dadce0;
  --owes: #c62828; --owed: #2e7d32; --fund: #1565c0; --flow: #6a1b9a; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 64rem; padding: 1rem; color: var(--ink);
  font: 16px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; background: #fff; }
h1 { font-size: 1.4rem; margin: 0 0 .25rem; } h2 { font-size: 1.1rem; margin: 1.5rem 0 .5rem; }
.meta { color: var(--muted); margin: 0; }
.charts { display: grid; gap: 1rem; grid-template-columns: minmax(0, 1fr); }
.chart { position: relative; height: 16rem; margin: 0; min-width: 0; border: 1px solid var(--line);
  border-radius: .5rem; padding: .5rem; }
.chart h2 { margin: 0; font-size: 1rem; }
.chart .canvas { position: relative; height: calc(100% - 1.6rem); }
.table-scroll { overflow-x: auto; -webkit-overflow-scrolling: touch; }
table { border-collapse: collapse; width: 100%; font-size: .95rem; }
th, td { padding: .35rem .5rem; border-bottom: 1px solid var(--line); text-align: left;
  vertical-align: top; }
td.amount, th.amount { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.negative { color: var(--owes); }
.status-near_limit { color: #8a5300; font-weight: 600; }
.status-over_limit { color: var(--owes); font-weight: 700; }
.empty { color: var(--muted); font-style: italic; }
@media (min-width: 48rem) { .charts { grid-template-columns: repeat(2, minmax(0, 1fr)); }
  .chart.wide { grid-column: 1 / -1; } }
"""

_CHART_SCRIPT = """
(function () {
  "use strict";
  var body = document.body;
  function fail(message) { body.setAttribute("data-script-error", String(message)); }
  window.addEventListener("error", function (event) { fail(event.message); });
  try {
    var report = JSON.parse(document.getElementById("report-data").textContent);
    var css = getComputedStyle(document.documentElement);
    function colour(name) { return css.getPropertyValue(name).trim(); }
    // The rendering boundary: exact decimal strings become numbers only to be drawn.
    function numbers(rows, key) { return rows.map(function (row) { return Number(row[key]); }); }
    function exact(rows, key) {
      return function (item) { return rows[item.dataIndex][key] + " " + report.currency; };
    }
    function chart(id, type, labels, rows, key, colours, options) {
      var config = { type: type, data: { labels: labels, datasets: [{
          label: report.currency, data: numbers(rows, key), backgroundColor: colours,
          borderColor: colours, fill: false, tension: 0.2 }] },
        options: Object.assign({ animation: false, responsive: true, maintainAspectRatio: false,
          plugins: { legend: { display: false },
            tooltip: { callbacks: { label: exact(rows, key) } } }
        }, options) };
      return new Chart(document.getElementById(id), config);
    }
    var collectives = report.collectives;
    var slugs = collectives.map(function (row) { return row.slug; });
    var sides = collectives.map(function (row) {
      return row.position.charAt(0) === "-" ? colour("--owes") : colour("--owed");
    });
    var charts = [
      chart("chart-positions", "bar", slugs, collectives, "position", sides, { indexAxis: "y" }),
      chart("chart-balances", "bar", slugs, collectives, "balance", colour("--fund"), {}),
      chart("chart-turnover", "line",
        report.turnover_per_day.map(function (row) { return row.date; }),
        report.turnover_per_day, "amount", colour("--flow"), {})
    ];
    var drawn = charts.filter(function (item) {
      var canvas = item.canvas;
      var pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
      for (var i = 3; i < pixels.length; i += 4) { if (pixels[i] !== 0) { return true; } }
      return false;
    }).length;
    body.setAttribute("data-charts-drawn", String(drawn));
  } catch (error) {
    fail(error && error.message ? error.message : error);
  }
})();
"""


@cache
def _chart_library() -> str:
    """The vendored Chart.js UMD build, without its source-map comment."""
    text = (
        resources.files("mutualcredit.reports")
        .joinpath("vendor", "chart.umd.min.js")
        .read_text(encoding="utf-8")
    )
    text = re.sub(r"\n//# sourceMappingURL=\S+\s*$", "\n", text)
    # Inlined in <script>, these sequences would end or confuse the element.
    assert "</script" not in text.lower() and "<!--" not in text, "vendored script unsafe"
    return text


def json_for_script(data: Any) -> str:
    """``data`` as JSON that is safe inside ``<script type="application/json">``.

    ``<``, ``>`` and ``&`` only occur inside JSON strings, where their
    ``\\u`` escapes mean the same; line and paragraph separators are escaped
    too so that the text is also a valid JavaScript literal.
    """
    text = json.dumps(data, ensure_ascii=False, indent=None, separators=(",", ":"))
    for char in "<>&\u2028\u2029":
        text = text.replace(char, f"\\u{ord(char):04x}")
    return text


def _script_hash(script: str) -> str:
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def _check_report(report: Mapping[str, Any]) -> None:
    """Assert the shape the services promise; amounts must be decimal strings."""
    for key in ("network", "currency", "period", "generated_at", "collectives"):
        assert key in report, f"settlement report lacks {key!r}"
    amounts = [(row, key) for row in report["collectives"] for key in ("balance", "position")]
    amounts += [(row, "amount") for row in report.get("turnover_per_day", [])]
    amounts += [(row, "amount") for row in report.get("netting", [])]
    amounts += [
        (row, key)
        for row in report.get("members", [])
        for key in ("balance", "limit_lower", "turnover", "hours")
        if key in row
    ]
    for row, key in amounts:
        value = row[key]
        assert isinstance(value, str) and _DECIMAL_RE.match(value), (key, value)
    for row in report.get("members", []):
        assert row.get("status", "ok") in _STATUS_LABELS, row.get("status")


def _amount_cell(value: str) -> str:
    css = "amount negative" if value.startswith("-") else "amount"
    return f'<td class="{css}">{escape(value)}</td>'


def _text_cell(value: Any) -> str:
    return f'<td dir="auto">{escape(str(value))}</td>'


def _table(caption: str, headers: Sequence[str], rows: list[str], amounts_from: int) -> str:
    """A scrollable table; columns from ``amounts_from`` on are right-aligned amounts."""
    heads = "".join(
        ('<th scope="col" class="amount">' if index >= amounts_from else '<th scope="col">')
        + f"{escape(header)}</th>"
        for index, header in enumerate(headers)
    )
    body = "".join(rows) or (f'<tr><td class="empty" colspan="{len(headers)}">none</td></tr>')
    return (
        f'<h2>{escape(caption)}</h2>\n<div class="table-scroll"><table>'
        f"<thead><tr>{heads}</tr></thead><tbody>{body}</tbody></table></div>\n"
    )


def _collectives_table(report: Mapping[str, Any]) -> str:
    rows = [
        "<tr>"
        + _text_cell(row["slug"])
        + _text_cell(row.get("name", ""))
        + _amount_cell(row["balance"])
        + _amount_cell(row["position"])
        + "</tr>"
        for row in report["collectives"]
    ]
    return _table("Collectives", ["Collective", "Name", "Fund balance", "Position"], rows, 2)


def _netting_table(report: Mapping[str, Any]) -> str:
    rows = [
        "<tr>"
        + _text_cell(row["from"])
        + _text_cell(row["to"])
        + _amount_cell(row["amount"])
        + "</tr>"
        for row in report.get("netting", [])
    ]
    return _table("Settling transfers", ["Pays", "Receives", "Amount"], rows, 2)


def _members_table(report: Mapping[str, Any]) -> str:
    rows = []
    for row in report.get("members", []):
        status = row.get("status", "ok")
        rows.append(
            "<tr>"
            + _text_cell(row["handle"])
            + _text_cell(row.get("name", ""))
            + _text_cell(row.get("collective", ""))
            + f'<td class="status-{status}">{escape(_STATUS_LABELS[status])}</td>'
            + "".join(_amount_cell(row.get(key, "")) for key in ("balance", "limit_lower"))
            + _amount_cell(row.get("turnover", ""))
            + _amount_cell(row.get("hours", ""))
            + "</tr>"
        )
    headers = [
        "Member",
        "Name",
        "Collective",
        "Status",
        "Balance",
        "Lower limit",
        "Turnover",
        "Hours",
    ]
    return _table("Members", headers, rows, 4)


def _charts_section() -> str:
    charts = [
        ("chart-positions", "Positions between collectives", ""),
        ("chart-balances", "Fund balance per collective", ""),
        ("chart-turnover", "Turnover per day", " wide"),
    ]
    return (
        '<section class="charts">'
        + "".join(
            f'<figure class="chart{wide}"><h2>{escape(title)}</h2>'
            f'<div class="canvas"><canvas id="{chart_id}" role="img" aria-label="{escape(title)}">'
            f"</canvas></div></figure>"
            for chart_id, title, wide in charts
        )
        + "</section>\n"
    )


def _head(title: str, script_hashes: Sequence[str]) -> str:
    policy = (
        "default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
        f"script-src {' '.join(script_hashes)}; base-uri 'none'; form-action 'none'"
    )
    # Hashes are base64 and the rest is ours: nothing in the policy needs escaping.
    assert '"' not in policy and "&" not in policy, policy
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{policy}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta name="generator" content="mutualcredit">\n<title>{escape(title)}</title>\n'
        f"<style>{_STYLE}</style>\n</head>\n"
    )


def render_settlement_report_html(report: Mapping[str, Any]) -> str:
    """Render a settlement report (shape in the module docstring) as one HTML page."""
    _check_report(report)
    library = _chart_library()
    period = report["period"]
    title = f"Settlement {report['network']} {period['first']} to {period['last']}"
    intro = (
        f'<h1 dir="auto">{escape(title)}</h1>\n'
        f'<p class="meta">Amounts in {escape(report["currency"])}. '
        f"Generated {escape(report['generated_at'])}.</p>\n"
    )
    return (
        _head(title, [_script_hash(library), _script_hash(_CHART_SCRIPT)])
        + "<body>\n"
        + intro
        + _charts_section()
        + _collectives_table(report)
        + _netting_table(report)
        + _members_table(report)
        + f'<script type="application/json" id="report-data">{json_for_script(report)}</script>\n'
        + f"<script>{library}</script>\n"
        + f"<script>{_CHART_SCRIPT}</script>\n"
        + "</body>\n</html>\n"
    )
