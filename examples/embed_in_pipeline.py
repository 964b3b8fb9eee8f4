"""Embedding blacklist-rules in a moderation pipeline: a consumer loop with side effects.

An operator reads account events from its queue (here: a JSONL file), lets the engine decide,
and applies each enforced decision to its own account service. Shadow decisions are only
logged. Rejected events go to a dead-letter list for a human; a failed evaluation stops the
consumer (exit 3); nothing is dropped silently. The
engine commits in batches; the account service is told only after the batch holding the
decision is committed, so a crash never acts on a decision the db does not have.

Run: python examples/embed_in_pipeline.py [EVENTS.jsonl] [--db PATH]
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from blacklist_rules import Decision, Engine, EvaluationError, iter_jsonl

HERE = Path(__file__).resolve().parent


class AccountService:
    """Stands in for the operator's own service; a real one would call an API."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str]] = []

    def apply(self, decision: Decision) -> None:
        # Irreversible actions deserve their own path in a real service (notify, hold data).
        self.calls.append((decision.account_id, str(decision.action), decision.decision_id))

    def restore(self, account_id: str, status: str) -> None:
        self.calls.append((account_id, f"restore:{status}", ""))


def consume(
    events: Path, db: str | None, service: AccountService, batch: int = 500
) -> dict[str, int]:
    """Process a stream, acting on enforced decisions once their batch is committed. A rule
    that fails to evaluate raises `EvaluationError` (recorded, nothing decided, nothing of the
    batch after the last commit kept): the consumer stops rather than treat it as an allow."""
    counts = {"events": 0, "enforced": 0, "shadow": 0, "dead_letter": 0}
    pending: list[Decision] = []
    restores: list[tuple[str, str]] = []
    # The identity key: $BLACKLIST_RULES_IDENTITY_KEY, else `<db>.key`, made on first use.
    with Engine.from_path(db=db, create_key=True) as engine:
        engine.commit_every = batch
        for outcome in engine.run(iter_jsonl(events), source=str(events)):
            counts["events"] += 1
            if outcome.rejection is not None:
                counts["dead_letter"] += 1  # recorded in the audit trail; a human looks at it
                continue
            for decision in outcome.decisions:
                if decision.mode == "enforce":
                    pending.append(decision)
                else:
                    counts["shadow"] += 1
            restores += [
                (c.account_id, c.status_after)
                for c in outcome.status_changes
                if c.status_after == "active"
            ]
            if counts["events"] % batch == 0:
                engine.flush()  # committed: now it is safe to act
                counts["enforced"] += _act(service, pending, restores)
        engine.flush()
        counts["enforced"] += _act(service, pending, restores)
    return counts


def _act(
    service: AccountService, decisions: list[Decision], restores: list[tuple[str, str]]
) -> int:
    done = len(decisions)
    for decision in decisions:
        service.apply(decision)
    for account_id, status in restores:
        service.restore(account_id, status)
    decisions.clear()
    restores.clear()
    return done


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("events", nargs="?", default=str(HERE / "events.jsonl"))
    parser.add_argument("--db", default=None, help="SQLite file (default: in memory)")
    args = parser.parse_args(argv)
    service = AccountService()
    try:
        counts = consume(Path(args.events), args.db, service)
    except EvaluationError as exc:
        print(f"stopped: {exc}")
        return 3
    print(", ".join(f"{key} {value}" for key, value in counts.items()))
    for account_id, action, decision_id in service.calls[:5]:
        print(f"  account service: {action:10} {account_id}  ({decision_id})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
