"""A replay diff as one self-contained HTML page a compliance officer can check: provenance
(both packs, the rule-text diff, the input's digest), a severity-aware chart on an even date
axis, every changed account with its decisions and their reversals. Split by concern: the data
behind the chart (`series`), the chart (`chart`, matplotlib's one seam), the provenance
(`provenance`) and the page (`page`)."""

from __future__ import annotations

from .chart import MISSING, missing_dependency
from .page import render_html
from .provenance import DigestingReader, InputFile, Provenance, make_provenance, rule_changes
from .series import Series
from .shadow import render_shadow_html

__all__ = [
    "MISSING",
    "DigestingReader",
    "InputFile",
    "Provenance",
    "Series",
    "make_provenance",
    "missing_dependency",
    "render_html",
    "render_shadow_html",
    "rule_changes",
]
