"""blacklist-rules: declarative freeze / cancel / blacklist rules over account events.

>>> from blacklist_rules import Engine
>>> engine = Engine.from_path()            # the default rule pack, an in-memory db
>>> outcome = engine.process({"event_id": "e1", "type": "impersonation_report",
...     "account_id": "acct-1", "occurred_at": "2026-05-01T09:00:00+08:00",
...     "reporter_id": "user-7", "confirmed": True})
>>> [d.action for d in outcome.decisions], engine.status("acct-1")
(['blacklist'], 'blacklisted')
"""

import importlib
import logging
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # what the names are; at run time each is imported when first used
    from .engine import Engine, Outcome, default_rules_path, load_ruleset
    from .engine.aio import AsyncEngine
    from .engine.hooks import Hooks
    from .engine.metrics import EngineMetrics
    from .errors import (
        BlacklistRulesError,
        CaseLoadError,
        ClockError,
        EngineClosedError,
        EngineError,
        EngineThreadError,
        EvaluationError,
        EventError,
        ExportError,
        IdentityKeyError,
        NoticeError,
        RuleFileError,
        RuleLoadError,
        RuleVersionError,
        StoreConflictError,
        StoreError,
        StoreUnavailableError,
    )
    from .model.chain import AuditHead, Verdict
    from .model.clock import TimeBound
    from .model.decisions import (
        Action,
        ConditionTrace,
        Decision,
        Mode,
        Reversal,
        RuleMatch,
        Status,
        StatusChange,
    )
    from .model.events import Event, ParsedLine, iter_jsonl, parse_event, parse_time
    from .model.identity import BlacklistEntry, IdentityKey, load_key
    from .pack.compiler import CompiledRuleset
    from .pack.spec import parse_duration, rule_json_schema
    from .reports.dsa import dsa_statements
    from .reports.explain import explain_decision, why_not
    from .reports.notices import Notice, render_notice
    from .stores.records import HistoryPurge
    from .stores.sqlite import SQLiteStore
    from .stores.sqlite.connection import Transaction
    from .tools.cases import Case, CaseResult, Coverage, load_cases, run_case
    from .tools.diff_html import render_html
    from .tools.replay import replay_diff, shadow_diff
    from .tools.starter import Starter, default_cases_path, write_starter

_EXPORTS: dict[str, str] = {
    "Action": "model.decisions",
    "AsyncEngine": "engine.aio",
    "AuditHead": "model.chain",
    "BlacklistEntry": "model.identity",
    "BlacklistRulesError": "errors",
    "Case": "tools.cases",
    "CaseLoadError": "errors",
    "CaseResult": "tools.cases",
    "ClockError": "errors",
    "CompiledRuleset": "pack.compiler",
    "ConditionTrace": "model.decisions",
    "Coverage": "tools.cases",
    "Decision": "model.decisions",
    "Engine": "engine",
    "EngineClosedError": "errors",
    "EngineError": "errors",
    "EngineMetrics": "engine.metrics",
    "EngineThreadError": "errors",
    "EvaluationError": "errors",
    "Event": "model.events",
    "EventError": "errors",
    "ExportError": "errors",
    "HistoryPurge": "stores.records",
    "Hooks": "engine.hooks",
    "IdentityKey": "model.identity",
    "IdentityKeyError": "errors",
    "Mode": "model.decisions",
    "Notice": "reports.notices",
    "NoticeError": "errors",
    "Outcome": "engine",
    "ParsedLine": "model.events",
    "Reversal": "model.decisions",
    "RuleFileError": "errors",
    "RuleLoadError": "errors",
    "RuleMatch": "model.decisions",
    "RuleVersionError": "errors",
    "SQLiteStore": "stores.sqlite",
    "Starter": "tools.starter",
    "Status": "model.decisions",
    "StatusChange": "model.decisions",
    "StoreConflictError": "errors",
    "StoreError": "errors",
    "StoreUnavailableError": "errors",
    "TimeBound": "model.clock",
    "Transaction": "stores.sqlite.connection",
    "Verdict": "model.chain",
    "default_cases_path": "tools.starter",
    "default_rules_path": "engine",
    "dsa_statements": "reports.dsa",
    "explain_decision": "reports.explain",
    "iter_jsonl": "model.events",
    "load_cases": "tools.cases",
    "load_key": "model.identity",
    "load_ruleset": "engine",
    "parse_duration": "pack.spec",
    "parse_event": "model.events",
    "parse_time": "model.events",
    "render_html": "tools.diff_html",
    "render_notice": "reports.notices",
    "replay_diff": "tools.replay",
    "rule_json_schema": "pack.spec",
    "run_case": "tools.cases",
    "shadow_diff": "tools.replay",
    "why_not": "reports.explain",
    "write_starter": "tools.starter",
}
"""The module each public name comes from: `import blacklist_rules` imports none of them
(PEP 562), so a pytest start-up (our plugin) or a CLI `--help` does not load the engine or
durable-rules' C extension; the first use of a name imports its module."""


if not TYPE_CHECKING:  # hidden from mypy, which would otherwise accept any name of the package

    def __getattr__(name: str) -> object:
        module = _EXPORTS.get(name)
        if module is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f".{module}", __name__), name)
        globals()[name] = value  # later uses skip this function
        return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


try:
    __version__ = version("blacklist-rules")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "Action",
    "AsyncEngine",
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
    "EngineClosedError",
    "EngineError",
    "EngineMetrics",
    "EngineThreadError",
    "EvaluationError",
    "Event",
    "EventError",
    "ExportError",
    "HistoryPurge",
    "Hooks",
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
    "RuleVersionError",
    "SQLiteStore",
    "Starter",
    "Status",
    "StatusChange",
    "StoreConflictError",
    "StoreError",
    "StoreUnavailableError",
    "TimeBound",
    "Transaction",
    "Verdict",
    "__version__",
    "default_cases_path",
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
    "write_starter",
]
