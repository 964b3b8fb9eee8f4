"""A replay diff as one self-contained HTML page: no script, no external file, an inline SVG
chart of enforced decisions per day for both versions. Everything shown is escaped."""

from __future__ import annotations

from html import escape
from typing import Any

_STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:70em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.25em .6em}
th{background:#f3f3f3;text-align:left}td.n{text-align:right}.base{color:#1f5fa8}.cand{color:#c2410c}
code{font-size:90%}
"""


def _chart(per_day: list[dict[str, Any]], width: int = 900, height: int = 220) -> str:
    """Two lines, baseline and candidate, of enforced decisions per day."""
    if not per_day:
        return "<p>No enforced decisions.</p>"
    top = max(max(d["baseline"], d["candidate"]) for d in per_day) or 1
    step = (width - 60) / max(len(per_day) - 1, 1)

    def points(side: str) -> str:
        return " ".join(
            f"{50 + i * step:.1f},{height - 30 - (d[side] / top) * (height - 50):.1f}"
            for i, d in enumerate(per_day)
        )

    labels = "".join(
        f'<text x="{50 + i * step:.1f}" y="{height - 10}" font-size="10" '
        f'text-anchor="middle">{escape(d["date"][5:])}</text>'
        for i, d in enumerate(per_day)
        if i % max(len(per_day) // 12, 1) == 0
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        'role="img" aria-label="enforced decisions per day">'
        f'<text x="5" y="15" font-size="11">{top}</text>'
        f'<line x1="50" y1="{height - 30}" x2="{width - 10}" y2="{height - 30}" stroke="#999"/>'
        f'<polyline fill="none" stroke="#1f5fa8" stroke-width="2" points="{points("baseline")}"/>'
        f'<polyline fill="none" stroke="#c2410c" stroke-width="2" stroke-dasharray="5 3" '
        f'points="{points("candidate")}"/>{labels}</svg>'
        '<p><span class="base">━ baseline</span> &nbsp; <span class="cand">╍ candidate</span></p>'
    )


def _decisions(items: list[dict[str, Any]]) -> str:
    if not items:
        return "none"
    return "<br>".join(
        f"{escape(d['action'])} by <code>{escape(d['rule_id'])}</code> ({escape(d['mode'])}), "
        f"evidence {escape(', '.join(d['evidence']))}"
        for d in items
    )


def render_html(report: dict[str, Any]) -> str:
    """The page: summary, transitions with samples, decisions per rule, the chart."""
    irreversible = report["irreversible"]
    rows = "".join(
        f"<tr><td>{escape(t['from'])} → {escape(t['to'])}</td><td class=n>{t['accounts']}</td>"
        "<td>"
        + "".join(
            f"<p><b>{escape(s['account_id'])}</b><br><span class=base>baseline:</span> "
            f"{_decisions(s['baseline'])}<br><span class=cand>candidate:</span> "
            f"{_decisions(s['candidate'])}</p>"
            for s in t["samples"]
        )
        + "</td></tr>"
        for t in report["transitions"]
    )
    rules = "".join(
        f"<tr><td><code>{escape(r['rule_id'])}</code></td><td>{escape(r['mode'])}</td>"
        f"<td class=n>{r['baseline']}</td><td class=n>{r['candidate']}</td>"
        f"<td class=n>{r['candidate'] - r['baseline']:+d}</td></tr>"
        for r in report["rules"]
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>blacklist-rules replay diff</title>
<style>{_STYLE}</style></head><body>
<h1>Replay diff</h1>
<p>Baseline pack <code>{escape(report["baseline"]["digest"][:16])}</code>
({report["baseline"]["rules"]} rules), candidate pack
<code>{escape(report["candidate"]["digest"][:16])}</code> ({report["candidate"]["rules"]} rules),
{report["events"]:,} events ({report["rejected"]:,} rejected).</p>
<p><b>{report["accounts_changed"]:,}</b> of {report["accounts_decided"]:,} accounts decided about
end differently. Irreversible outcomes (enforced cancel, blacklist): baseline
{irreversible["baseline"]:,}, candidate {irreversible["candidate"]:,},
<b>{irreversible["changed"]:,} changed ({irreversible["percent"]} %)</b>.</p>
<h2>Enforced decisions per day</h2>{_chart(report["per_day"])}
<h2>Accounts by transition</h2>
<table><tr><th>final status</th><th>accounts</th><th>samples</th></tr>{
        rows or "<tr><td colspan=3>no account ends differently</td></tr>"
    }</table>
<h2>Decisions per rule</h2>
<table><tr><th>rule</th><th>mode</th><th>baseline</th><th>candidate</th><th>change</th></tr>
{rules}</table>
</body></html>
"""
