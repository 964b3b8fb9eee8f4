"""Prometheus metrics of an engine: the only module that imports prometheus-client (the
`metrics` extra), and only when a user asks for metrics, so the library works without it.

Everything is counted from the outcomes the engine tells its hooks, once committed (see
`hooks`): a batch that is rolled back counts nothing, and its events count when they run again.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from .context import Outcome
from .hooks import kind_of

try:
    from prometheus_client import CollectorRegistry, Counter, Histogram, write_to_textfile
    from prometheus_client.exposition import start_http_server
except ImportError as exc:  # pragma: no cover - the extra is installed where tests run
    raise ImportError(
        "metrics need prometheus-client: pip install 'blacklist-rules[metrics]'"
    ) from exc

if TYPE_CHECKING:
    from .facade import Engine

OUTCOMES = ("decided", "quiet", "rejected", "duplicate", "failed")
"""The values of the `outcome` label of `blacklist_rules_events_total`."""

LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 2.5)
"""Seconds: an event takes tens of microseconds to a few milliseconds (a reversal cascade more)."""


class EngineMetrics:
    """The engine's collectors in one registry: by default a fresh `CollectorRegistry` of its
    own (never the process-wide default unless it is passed as `registry`).

    - `blacklist_rules_events_total{outcome}`: events by outcome (`decided`, `quiet`,
      `rejected`, `duplicate`, `failed`);
    - `blacklist_rules_decisions_total{rule_id, action, mode}`: decisions, deadlines' included;
    - `blacklist_rules_evaluation_seconds`: the time the engine took over each event;
    - `blacklist_rules_failures_total{kind}`: `event` and `clock` (evaluation failed), `hook`
      (a hook raised), `store` (the store failed: a batch dropped).

    `attach(engine)` starts counting one engine's outcomes; several engines may share one."""

    def __init__(
        self, registry: CollectorRegistry | None = None, *, namespace: str = "blacklist_rules"
    ) -> None:
        self.registry = CollectorRegistry() if registry is None else registry
        self.events = Counter(
            "events", "Events processed, by outcome", ["outcome"],
            namespace=namespace, registry=self.registry,
        )  # fmt: skip
        self.decisions = Counter(
            "decisions", "Decisions taken, by rule, action and mode", ["rule_id", "action", "mode"],
            namespace=namespace, registry=self.registry,
        )  # fmt: skip
        self.latency = Histogram(
            "evaluation_seconds", "Seconds the engine took over one event",
            namespace=namespace, registry=self.registry, buckets=LATENCY_BUCKETS,
        )  # fmt: skip
        self.failures = Counter(
            "failures", "Failures: event, clock (evaluation), hook, store", ["kind"],
            namespace=namespace, registry=self.registry,
        )  # fmt: skip
        for outcome in OUTCOMES:  # every series exists from the start, at 0
            self.events.labels(outcome)
        for kind in ("event", "clock", "hook", "store"):
            self.failures.labels(kind)

    def attach(self, engine: Engine) -> EngineMetrics:
        """Count `engine`'s committed outcomes from now on; returns self."""
        engine.hooks.add_observer(self)
        return self

    def outcome(self, outcome: Outcome, seconds: float, *, clock: bool) -> None:
        """One committed outcome (an `Observer`'s method, called by the engine's hooks)."""
        for decision in outcome.decisions:
            self.decisions.labels(decision.rule_id, str(decision.action), str(decision.mode)).inc()
        if clock:
            if outcome.failure is not None:
                self.failures.labels("clock").inc()
            return
        kind = kind_of(outcome)
        self.events.labels(kind).inc()
        self.latency.observe(seconds)
        if kind == "failed":
            self.failures.labels("event").inc()

    def failed(self, kind: str) -> None:
        """A failure that is no event's outcome (`hook`, `store`)."""
        self.failures.labels(kind).inc()

    def write_textfile(self, path: str | Path) -> None:
        """Write the registry in the text format node-exporter's textfile collector reads
        (atomically: a temporary file renamed over `path`)."""
        write_to_textfile(str(path), self.registry)

    def serve(self, port: int, addr: str = "127.0.0.1") -> Callable[[], None]:
        """Serve the registry over HTTP from a daemon thread, for scrapes while a long run goes
        on (it reads only the collectors, never the engine). Returns what stops it."""
        server, thread = start_http_server(port, addr=addr, registry=self.registry)

        def stop() -> None:
            server.shutdown()
            server.server_close()
            thread.join()

        return stop
