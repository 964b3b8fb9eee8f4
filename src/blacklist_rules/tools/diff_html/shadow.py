"""The `diff --shadow` report as the same kind of self-contained page as a replay diff's: what
the db's shadow rules would change if enforced, with its provenance (the db, the packs its
shadow decisions came from, the tool's version, the time), a chart of the db's enforced
decisions per day against the same with the shadow decisions that would stand, and every
changed account with those decisions. The page's style, script and policy are `page`'s."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from html import escape
from typing import Any

from .chart import render_chart
from .page import SCRIPT, STYLE, day_table, decision, policy, status
from .series import Series

LABELS = {"baseline": "as enforced", "candidate": "shadow rules enforced"}
"""What the chart's two sides are in a shadow report."""


def render_shadow_html(
    report: Mapping[str, Any], *, tool_version: str, generated_at: datetime | None = None
) -> str:
    """The page for a `shadow_diff` report: summary and its caveat, provenance, the chart,
    every changed account with the shadow decisions that would stand, shadow decisions per
    rule."""
    irreversible = report["irreversible"]
    per_day = report["per_day"]
    chart = (
        f"<figure>{render_chart(Series.from_per_day(per_day), labels=LABELS)}</figure>"
        f"{day_table(per_day, LABELS)}"
        if per_day
        else "<p>No enforced or shadow decision in the db.</p>"
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{policy()}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>blacklist-rules shadow diff</title><style>{STYLE}</style></head><body>
<h1>Shadow diff</h1>
<p>{report["accounts_with_shadow_decisions"]:,} accounts have shadow decisions that would
stand; enforced, they would change <b>{report["accounts_changed"]:,}</b>. Irreversible outcomes
(enforced cancel, blacklist): {irreversible["enforced"]:,} enforced,
<b>{irreversible["added"]:,} more if the shadow rules were ({irreversible["percent"]} %)</b>.</p>
<p>An approximation: each shadow decision was taken as if alone, so enforcing its rule would
also change what follows it (deadlines it starts, statuses other rules see). The exact answer
is <code>blacklist-rules diff</code> of the pack against itself with the rule's
<code>mode</code> set to <code>enforce</code>.</p>
<h2>Provenance</h2>{_provenance(report, tool_version, generated_at)}
<h2>Enforced decisions per day</h2>{chart}
<h2>Changed accounts</h2>{_transitions(report["transitions"])}{_accounts(report["accounts"])}
<h2>Shadow decisions per rule</h2>{_rules(report["rules"])}
<script>{SCRIPT}</script>
</body></html>
"""


def _provenance(report: Mapping[str, Any], version: str, at: datetime | None) -> str:
    made = (at or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds")
    digests = sorted(
        {d["ruleset_digest"] for account in report["accounts"] for d in account["shadow"]}
    )
    packs = ", ".join(f"<code>{escape(digest)}</code>" for digest in digests) or "none"
    rows = [
        ("tool", f"blacklist-rules {escape(version)}"),
        ("generated", f"{escape(made)} (UTC)"),
        ("db", f"<code>{escape(str(report['db']))}</code>"),
        ("packs of the changes", packs),
    ]
    return "<dl>" + "".join(f"<dt>{name}</dt><dd>{value}</dd>" for name, value in rows) + "</dl>"


def _transitions(transitions: list[dict[str, Any]]) -> str:
    if not transitions:
        return "<p>No account would end differently.</p>"
    rows = "".join(
        f"<tr><td>{status(t['from'])} → {status(t['to'])}</td>"
        f"<td class=n>{t['accounts']:,}</td></tr>"
        for t in transitions
    )
    head = "<tr><th>status, now → with the shadow rules enforced</th><th>accounts</th></tr>"
    return f"<table>{head}{rows}</table>"


def _accounts(accounts: list[dict[str, Any]]) -> str:
    if not accounts:
        return ""
    kinds = sorted({f"{a['from']} → {a['to']}" for a in accounts})
    options = "".join(f'<option value="{escape(k)}">{escape(k)}</option>' for k in kinds)
    rows = "".join(
        f'<tr data-transition="{escape(a["from"])} → {escape(a["to"])}">'
        f"<td><code>{escape(a['account_id'])}</code></td>"
        f"<td>{status(a['from'])} → {status(a['to'])}</td>"
        f"<td>{''.join(map(decision, a['shadow']))}</td></tr>"
        for a in accounts
    )
    return f"""<div id="controls" hidden><label>Filter <input id="filter" type="search"
placeholder="account, rule, action, event id"></label>
<label>Transition <select id="transition"><option value="">all</option>{options}</select></label>
<button id="prev" type="button">previous</button> <span id="shown"></span>
<button id="next" type="button">next</button></div>
<table id="accounts"><thead><tr><th>account</th><th>status, now → enforced</th>
<th class="cand">shadow decisions that would stand</th></tr></thead>
<tbody>{rows}</tbody></table>"""


def _rules(rules: list[dict[str, Any]]) -> str:
    rows = "".join(
        f"<tr><td><code>{escape(r['rule_id'])}</code></td>"
        f"<td class=n>{r['shadow_decisions']:,}</td></tr>"
        for r in rules
    )
    head = "<tr><th>rule</th><th>shadow decisions that would stand</th></tr>"
    return f"<table>{head}{rows}</table>" if rules else "<p>No shadow decision.</p>"
