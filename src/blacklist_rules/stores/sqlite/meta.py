"""Rulesets, notice templates, the identity key check and rejected inputs: what the db keeps
about the packs and keys that wrote it."""

from __future__ import annotations

import hmac
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from blacklist_rules.stores.records import RecordedRule, RuleFile, recorded_rules_of

from .base import SQLiteBase
from .schema import (
    dumps,
)


class SQLiteMeta(SQLiteBase):
    """The `rulesets`, `notice_templates` and `rejections` tables, and the key check."""

    def remember_ruleset(
        self,
        digest: str,
        rules: Sequence[RuleFile],
        notices: Mapping[str, str] | None = None,
    ) -> None:
        """Keep the exact rule text (and notice templates) behind a digest, so any decision can
        be traced to it; the audit records written from now on carry the digest."""
        self._digest = digest
        self._db.execute(
            "INSERT OR IGNORE INTO rulesets VALUES (?, ?, ?)",
            (digest, datetime.now(UTC).isoformat(), dumps([rule.to_dict() for rule in rules])),
        )
        if notices:
            self._db.execute(
                "INSERT OR IGNORE INTO notice_templates VALUES (?, ?)",
                (digest, dumps(dict(notices))),
            )

    def notice_files(self, digest: str) -> dict[str, str]:
        """The notice template files (`notices/en.txt`: text) of a pack the db has used."""
        row = self._db.execute(
            "SELECT files FROM notice_templates WHERE digest = ?", (digest,)
        ).fetchone()
        return {} if row is None else dict(json.loads(row[0]))

    def check_key(self, check: str) -> bool:
        """Is this the db's identity key? A new db adopts the first key it is opened with for
        writing (a read-only open writes nothing: any key reads a db that has none)."""
        known = self.meta("identity_key_check")
        if known is None:
            if not self.read_only:
                self.set_meta("identity_key_check", check)
            return True
        return hmac.compare_digest(known, check)

    def ruleset_rules(self, digest: str) -> list[RuleFile]:
        """The rule files (id, version, file, text) of a pack the db has used."""
        row = self._db.execute("SELECT rules FROM rulesets WHERE digest = ?", (digest,)).fetchone()
        return [] if row is None else [RuleFile.from_dict(d) for d in json.loads(row[0])]

    def recorded_rules(self) -> list[RecordedRule]:
        """Every rule file of every pack the db has used, the packs in the order they were
        first used (a rule id and version may stand in several)."""
        rows = self._db.execute(
            "SELECT digest, rules FROM rulesets ORDER BY first_used_at, digest"
        ).fetchall()
        return [rule for digest, rules in rows for rule in recorded_rules_of(digest, rules)]

    def first_rejection(self, digest: str) -> bool:
        """Remember that an input was rejected, by its keyed digest (the input may hold
        identity values, so never the input itself); False when it was already."""
        cursor = self._db.execute("INSERT OR IGNORE INTO rejections VALUES (?)", (digest,))
        return cursor.rowcount == 1
