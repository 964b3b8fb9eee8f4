"""The diff report's chart, drawn by matplotlib as inline SVG (text kept as text, ids seeded,
no date in its metadata: the same report gives the same chart). matplotlib is imported here
only, from the `report` extra; without it the page cannot be made, and says what to install."""

from __future__ import annotations

import html
import io
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

from blacklist_rules.errors import BlacklistRulesError

from .series import ACTIONS, SIDES, Series

if TYPE_CHECKING:
    from matplotlib.axes import Axes

MISSING = (
    "the HTML report draws its chart with matplotlib, which is not installed: "
    "pip install 'blacklist-rules[report]'"
)
COLOURS = {"freeze": "#e9b949", "cancel": "#e07b24", "blacklist": "#a4161a"}
"""By severity, light to dark."""
LINES = {"baseline": ("#1f5fa8", "-"), "candidate": ("#c2410c", "--")}
HATCH = {"baseline": "", "candidate": "////"}
OFFSET = {"baseline": -0.21, "candidate": 0.21}
"""Where each side's bar stands from the middle of its span, in spans; each is 0.4 span wide."""


def missing_dependency() -> str | None:
    """Why the chart cannot be drawn here (matplotlib missing), or None."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return MISSING
    return None


def render_chart(series: Series, labels: Mapping[str, str] | None = None) -> str:
    """Two panels over one date axis: enforced decisions per day stacked by action (baseline
    solid, candidate hatched), and each side's cumulative severity. An `<svg>` element;
    `labels` names the two sides in the legends (default: baseline, candidate)."""
    named = {side: side for side in SIDES} | dict(labels or {})
    try:
        from matplotlib import rc_context
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise BlacklistRulesError(MISSING) from exc
    from matplotlib import dates

    # matplotlib.dates has no annotations yet: hence the ignores on its three calls here.
    x = [float(at) for at in dates.date2num(list(series.days))]  # type: ignore[no-untyped-call]
    with rc_context({"svg.fonttype": "none", "svg.hashsalt": "blacklist-rules", "font.size": 9}):
        figure = Figure(figsize=(10, 6.2), layout="constrained")
        bars, running = figure.subplots(2, 1, sharex=True, height_ratios=[3, 2])
        _bars(bars, series.binned(), named)
        _running(running, x, series, named)
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    return _inline(buffer.getvalue(), named)


def _bars(axes: Axes, series: Series, named: Mapping[str, str]) -> None:
    from matplotlib import dates
    from matplotlib.patches import Patch
    from matplotlib.ticker import MaxNLocator

    width = series.span
    starts = dates.date2num(list(series.days))  # type: ignore[no-untyped-call]
    x = [float(at) + (width - 1) / 2 for at in starts]  # the middle of each span's days
    for side in SIDES:
        bottom = [0] * len(x)
        for action in ACTIONS:
            heights = series.counts[side][action]
            axes.bar(
                [at + OFFSET[side] * width for at in x],
                heights,
                width=0.4 * width,
                bottom=bottom,
                color=COLOURS[action],
                hatch=HATCH[side],
                edgecolor="#333333",
                linewidth=0.3,
            )
            bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    axes.set_ylabel(
        "enforced decisions per day" if width == 1 else f"enforced decisions per {width} days"
    )
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    tallest = max(max(series.decisions(side), default=0) for side in SIDES)
    axes.set_ylim(0, max(tallest, 1) * 1.3 + 0.5)  # room for the legend above the bars
    axes.set_xlim(x[0] - 0.4 * width - 0.4, x[-1] + 0.4 * width + 0.4)
    axes.grid(axis="y", color="#dddddd", linewidth=0.6)
    axes.set_axisbelow(True)
    handles = [Patch(facecolor=COLOURS[action], label=str(action)) for action in ACTIONS]
    handles += [
        Patch(facecolor="white", edgecolor="#333333", label=f"{named['baseline']} (left, solid)"),
        Patch(
            facecolor="white",
            edgecolor="#333333",
            hatch="////",
            label=f"{named['candidate']} (right)",
        ),
    ]
    axes.legend(handles=handles, loc="upper left", ncols=5, fontsize=8, frameon=False)


def _running(axes: Axes, x: list[float], series: Series, named: Mapping[str, str]) -> None:
    from matplotlib import dates
    from matplotlib.ticker import MaxNLocator

    for side in SIDES:
        colour, style = LINES[side]
        axes.plot(
            x,
            series.cumulative_severity(side),
            color=colour,
            linestyle=style,
            marker="o",
            markersize=2.5,
            drawstyle="steps-mid",
            label=named[side],
        )
    axes.set_ylabel("cumulative severity\n(freeze 1, cancel 2, blacklist 3)")
    axes.set_xlabel("day (UTC)")
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_ylim(bottom=0)
    axes.grid(axis="y", color="#dddddd", linewidth=0.6)
    axes.legend(loc="upper left", fontsize=8, frameon=False)
    locator = dates.AutoDateLocator(maxticks=14)  # type: ignore[no-untyped-call]
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(dates.ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]


_PROLOGUE = re.compile(r"\A.*?(?=<svg)", re.DOTALL)


def _inline(svg: str, named: Mapping[str, str]) -> str:
    """The `<svg>` element alone (no XML declaration or doctype), labelled for screen readers."""
    element = _PROLOGUE.sub("", svg, count=1)
    sides = f"{named['baseline']} and {named['candidate']}"
    label = f"enforced decisions per day by action, {sides}, and their cumulative severity"
    return element.replace("<svg ", f'<svg role="img" aria-label="{html.escape(label)}" ', 1)
