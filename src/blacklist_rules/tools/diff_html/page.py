"""The diff report's page: one self-contained HTML file. Its content security policy lets it
fetch nothing (its one script is allowed by digest), and every value shown is escaped. Without
script every changed account is listed; the script adds a filter and pages of 50."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Mapping
from html import escape
from typing import Any

from .chart import render_chart
from .series import Series

STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:76em;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.25em .6em;
vertical-align:top}th{background:#f3f3f3;text-align:left}td.n{text-align:right}
.base{color:#1f5fa8}.cand{color:#c2410c}code{font-size:90%}figure{margin:0}
figure svg{max-width:100%;height:auto}dl{display:grid;grid-template-columns:max-content auto;
gap:.2em 1em}dt{font-weight:600}dd{margin:0;word-break:break-all}
pre.diff{background:#f8f8f8;border:1px solid #ddd;padding:.6em;overflow-x:auto;font-size:85%}
.add{color:#116329;background:#e6ffec}.del{color:#82071e;background:#ffebe9}.hunk{color:#6639ba}
.s-active{color:#116329}.s-frozen{color:#9a6700}.s-cancelled{color:#bc4c00}
.s-blacklisted{color:#a4161a;font-weight:600}.rev{color:#6639ba}.reversed{opacity:.75}
#controls{margin:.5em 0}#controls input{width:20em}#accounts .d{margin:0 0 .3em}
"""

SCRIPT = """
(function () {
  var controls = document.getElementById("controls");
  if (!controls) { return; }
  var rows = Array.prototype.slice.call(document.querySelectorAll("#accounts tbody tr"));
  var text = document.getElementById("filter"), kind = document.getElementById("transition");
  var shown = document.getElementById("shown"), size = 50, page = 0;
  var prev = document.getElementById("prev"), next = document.getElementById("next");
  function matching() {
    var q = text.value.trim().toLowerCase(), t = kind.value;
    return rows.filter(function (row) {
      return (!t || row.getAttribute("data-transition") === t) &&
        (!q || row.textContent.toLowerCase().indexOf(q) >= 0);
    });
  }
  function show() {
    var found = matching(), pages = Math.max(1, Math.ceil(found.length / size));
    page = Math.min(page, pages - 1);
    rows.forEach(function (row) { row.hidden = true; });
    found.slice(page * size, (page + 1) * size).forEach(function (row) { row.hidden = false; });
    var first = found.length ? page * size + 1 : 0;
    shown.textContent = first + "\\u2013" + Math.min((page + 1) * size, found.length) +
      " of " + found.length + " accounts (" + rows.length + " changed in all)";
    prev.disabled = page === 0;
    next.disabled = page >= pages - 1;
  }
  text.addEventListener("input", function () { page = 0; show(); });
  kind.addEventListener("change", function () { page = 0; show(); });
  prev.addEventListener("click", function () { page -= 1; show(); });
  next.addEventListener("click", function () { page += 1; show(); });
  controls.hidden = false;
  show();
})();
"""


def policy() -> str:
    """Nothing may be fetched; the one inline script runs by its digest."""
    digest = base64.b64encode(hashlib.sha256(SCRIPT.encode()).digest()).decode()
    return (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
        f"script-src 'sha256-{digest}'"
    )


def render_html(report: Mapping[str, Any]) -> str:
    """The page for a `replay_diff` report: summary, provenance (when the report carries one:
    the command line adds it), the chart, every changed account, decisions per rule."""
    irreversible = report["irreversible"]
    per_day = report["per_day"]
    chart = (
        f"<figure>{render_chart(Series.from_per_day(per_day))}</figure>{day_table(per_day)}"
        if per_day
        else "<p>No enforced decisions in either version.</p>"
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{policy()}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>blacklist-rules replay diff</title><style>{STYLE}</style></head><body>
<h1>Replay diff</h1>
<p>{report["events"]:,} events ({report["rejected"]:,} rejected,
{report["refused_by_one_version"]:,} refused by one version only).
<b>{report["accounts_changed"]:,}</b> of {report["accounts_decided"]:,} accounts decided about
end differently. Irreversible outcomes (enforced cancel, blacklist): baseline
{irreversible["baseline"]:,}, candidate {irreversible["candidate"]:,},
<b>{irreversible["changed"]:,} changed ({irreversible["percent"]} %)</b>.</p>
<h2>Provenance</h2>{_provenance(report)}
<h2>Enforced decisions per day</h2>{chart}
<h2>Changed accounts</h2>{_transitions(report["transitions"])}{_accounts(report["accounts"])}
<h2>Decisions per rule</h2>{_rules(report["rules"])}
<script>{SCRIPT}</script>
</body></html>
"""


def _provenance(report: Mapping[str, Any]) -> str:
    made = report.get("provenance")
    if made is None:
        packs = "".join(
            f"<dt>{side} pack</dt><dd><code>{escape(report[side]['digest'])}</code> "
            f"({report[side]['rules']} rules)</dd>"
            for side in ("baseline", "candidate")
        )
        return (
            f"<dl>{packs}</dl><p>No input file, version or time recorded: made without the "
            "command line's provenance.</p>"
        )
    source = made["input"]
    rows = [
        ("tool", f"blacklist-rules {escape(made['tool_version'])}"),
        ("generated", f"{escape(made['generated_at'])} (UTC)"),
        ("input file", f"<code>{escape(source['path'])}</code> ({source['size']:,} bytes)"),
        ("input SHA-256", f"<code>{escape(source['sha256'])}</code>"),
    ]
    for side in ("baseline", "candidate"):
        pack = made[side]
        rows.append(
            (
                f"{side} pack",
                f"<code>{escape(pack['folder'])}</code>, {pack['rules']} rules, digest "
                f"<code>{escape(pack['digest'])}</code>",
            )
        )
    listed = "".join(f"<dt>{name}</dt><dd>{value}</dd>" for name, value in rows)
    return f"<dl>{listed}</dl><h3>Rule text changes</h3>{_changes(made['changes'])}"


def _changes(changes: list[dict[str, Any]]) -> str:
    if not changes:
        return "<p>No rule file or notice template differs in its text.</p>"
    parts = []
    for change in changes:
        versions = ""
        if change["baseline_version"] is not None or change["candidate_version"] is not None:
            versions = f", version {change['baseline_version']} → {change['candidate_version']}"
        parts.append(
            f"<details open><summary><code>{escape(change['name'])}</code>: "
            f"{escape(change['change'])}{escape(versions)}</summary>"
            f'<pre class="diff">{_diff_lines(change["diff"].splitlines())}</pre></details>'
        )
    return "".join(parts)


def _diff_lines(lines: Iterable[str]) -> str:
    shown = []
    for line in lines:
        kind = ""
        if line.startswith("@@"):
            kind = "hunk"
        elif line.startswith("+") and not line.startswith("+++"):
            kind = "add"
        elif line.startswith("-") and not line.startswith("---"):
            kind = "del"
        shown.append(f'<span class="{kind}">{escape(line)}</span>' if kind else escape(line))
    return "\n".join(shown)


def day_table(per_day: list[dict[str, Any]], labels: Mapping[str, str] | None = None) -> str:
    """The numbers behind the chart, for a reader (or a screen reader) to check; `labels`
    names the two sides (default: baseline, candidate)."""
    named = {side: side for side in ("baseline", "candidate")} | dict(labels or {})
    rows = "".join(
        f"<tr><td>{escape(day['date'])}</td>"
        + "".join(
            f"<td class=n>{day['actions'][side][action]}</td>"
            for side in ("baseline", "candidate")
            for action in ("freeze", "cancel", "blacklist")
        )
        + f"<td class=n>{day['severity']['baseline']}</td>"
        f"<td class=n>{day['severity']['candidate']}</td></tr>"
        for day in per_day
    )
    head = "".join(
        f"<th>{escape(named[side])} {action}</th>"
        for side in ("baseline", "candidate")
        for action in ("freeze", "cancel", "blacklist")
    )
    return (
        "<details><summary>The numbers behind the chart (every day, UTC)</summary>"
        f"<table><tr><th>day</th>{head}<th>{escape(named['baseline'])} severity</th>"
        f"<th>{escape(named['candidate'])} severity</th></tr>{rows}</table></details>"
    )


def status(status: str) -> str:
    return f'<span class="s-{escape(status)}">{escape(status)}</span>'


def _transitions(transitions: list[dict[str, Any]]) -> str:
    if not transitions:
        return "<p>No account ends differently.</p>"
    rows = "".join(
        f"<tr><td>{status(t['from'])} → {status(t['to'])}</td>"
        f"<td class=n>{t['accounts']:,}</td></tr>"
        for t in transitions
    )
    head = "<tr><th>final status, baseline → candidate</th><th>accounts</th></tr>"
    return f"<table>{head}{rows}</table>"


def decision(d: Mapping[str, Any]) -> str:
    reversal = d.get("reversal")
    undone = (
        f'<br><span class="rev">reversed by {escape(reversal["by"])} '
        f"(event <code>{escape(reversal['by_event'])}</code>) at {escape(reversal['at'])}</span>"
        if reversal
        else ""
    )
    return (
        f'<p class="d{" reversed" if reversal else ""}"><code>{escape(d["decision_id"])}</code>: '
        f"<b>{escape(d['action'])}</b> by <code>{escape(d['rule_id'])}</code> "
        f"({escape(d['mode'])}) at {escape(d['effective_at'])}, evidence "
        f"{escape(', '.join(d['evidence']))}{undone}</p>"
    )


def _accounts(accounts: list[dict[str, Any]]) -> str:
    if not accounts:
        return ""
    kinds = sorted({f"{a['from']} → {a['to']}" for a in accounts})
    options = "".join(f'<option value="{escape(k)}">{escape(k)}</option>' for k in kinds)
    rows = "".join(
        f'<tr data-transition="{escape(a["from"])} → {escape(a["to"])}">'
        f"<td><code>{escape(a['account_id'])}</code></td>"
        f"<td>{status(a['from'])} → {status(a['to'])}</td>"
        f"<td>{''.join(map(decision, a['baseline'])) or 'nothing'}</td>"
        f"<td>{''.join(map(decision, a['candidate'])) or 'nothing'}</td></tr>"
        for a in accounts
    )
    return f"""<div id="controls" hidden><label>Filter <input id="filter" type="search"
placeholder="account, rule, action, event id"></label>
<label>Transition <select id="transition"><option value="">all</option>{options}</select></label>
<button id="prev" type="button">previous</button> <span id="shown"></span>
<button id="next" type="button">next</button></div>
<table id="accounts"><thead><tr><th>account</th><th>final status</th>
<th class="base">baseline decisions</th><th class="cand">candidate decisions</th></tr></thead>
<tbody>{rows}</tbody></table>"""


def _rules(rules: list[dict[str, Any]]) -> str:
    rows = "".join(
        f"<tr><td><code>{escape(r['rule_id'])}</code></td><td>{escape(r['mode'])}</td>"
        f"<td class=n>{r['baseline']:,}</td><td class=n>{r['candidate']:,}</td>"
        f"<td class=n>{r['candidate'] - r['baseline']:+,d}</td></tr>"
        for r in rules
    )
    head = "<tr><th>rule</th><th>mode</th><th>baseline</th><th>candidate</th><th>change</th></tr>"
    return f"<table>{head}{rows}</table>" if rules else "<p>No decisions in either version.</p>"
