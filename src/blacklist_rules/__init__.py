"""blacklist-rules: declarative freeze / cancel / blacklist rules over account events.

>>> from blacklist_rules import Engine
>>> engine = Engine.from_path()            # the default rule pack, an in-memory db
>>> outcome = engine.process({"event_id": "e1", "type": "impersonation_report",
...     "account_id": "acct-1", "occurred_at": "2026-05-01T09:00:00+08:00",
...     "reporter_id": "user-7", "confirmed": True})
>>> [d.action for d in outcome.decisions], engine.status("acct-1")
(['blacklist'], 'blacklisted')
"""

import logging
from importlib.metadata import PackageNotFoundError, version

from .cases import Case, CaseResult, Coverage, load_cases, run_case
from .chain import AuditHead, Verdict
from .clock import TimeBound
from .compiler import CompiledRuleset
from .connection import Transaction
from .decisions import (
    Action,
    ConditionTrace,
    Decision,
    Mode,
    Reversal,
    RuleMatch,
    Status,
    StatusChange,
)
from .diff_html import render_html
from .dsa import dsa_statements
from .engine import Engine, Outcome, default_rules_path, load_ruleset
from .errors import (
    BlacklistRulesError,
    CaseLoadError,
    ClockError,
    EvaluationError,
    EventError,
    ExportError,
    IdentityKeyError,
    NoticeError,
    RuleFileError,
    RuleLoadError,
    StoreError,
    StoreUnavailableError,
)
from .events import Event, ParsedLine, iter_jsonl, parse_event, parse_time
from .explain import explain_decision, why_not
from .identity import BlacklistEntry, IdentityKey, load_key
from .notices import Notice, render_notice
from .replay import replay_diff, shadow_diff
from .spec import parse_duration, rule_json_schema
from .stores.records import HistoryPurge
from .stores.sqlite import SQLiteStore

try:
    __version__ = version("blacklist-rules")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "Action",
    "AuditHead",
    "BlacklistEntry",
    "BlacklistRulesError",
    "Case",
    "CaseLoadError",
    "CaseResult",
    "ClockError",
    "CompiledRuleset",
    "ConditionTrace",
    "Coverage",
    "Decision",
    "Engine",
    "EvaluationError",
    "Event",
    "EventError",
    "ExportError",
    "HistoryPurge",
    "IdentityKey",
    "IdentityKeyError",
    "Mode",
    "Notice",
    "NoticeError",
    "Outcome",
    "ParsedLine",
    "Reversal",
    "RuleFileError",
    "RuleLoadError",
    "RuleMatch",
    "SQLiteStore",
    "Status",
    "StatusChange",
    "StoreError",
    "StoreUnavailableError",
    "TimeBound",
    "Transaction",
    "Verdict",
    "__version__",
    "default_rules_path",
    "dsa_statements",
    "explain_decision",
    "iter_jsonl",
    "load_cases",
    "load_key",
    "load_ruleset",
    "parse_duration",
    "parse_event",
    "parse_time",
    "render_html",
    "render_notice",
    "replay_diff",
    "rule_json_schema",
    "run_case",
    "shadow_diff",
    "why_not",
]
