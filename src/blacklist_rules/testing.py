"""Test helpers for users of blacklist-rules: seeded synthetic traffic that follows the event
contract (DESIGN §2).

Like `structlog.testing`, a public module for tests, never imported by the library at run time:

>>> from blacklist_rules.testing import generate_events
>>> events = list(generate_events(3, n_accounts=1, seed=7))
>>> len(events), events[0]["type"], events[0]["account_id"]
(3, 'registration', 'acct-000000')

Benchmarks, demos and replay tests need large, realistic and *reproducible* streams, so the
generator is deterministic for a seed, streams (memory grows with active accounts, not with events)
and yields events in non-decreasing ``occurred_at`` order, the way a live feed would arrive.

Each account registers, then draws benign background traffic; a share ``1 - benign_share`` of the
accounts also plays one suspicious scenario (failed verifications, confirmed impersonation,
malicious rumours, human reviews, appeals, re-registration of a blacklisted person) so that every
rule of the default pack has something to match. Only the standard library is used, so the module
can run anywhere the package is installed.
"""

from __future__ import annotations

import heapq
import json
import math
import operator
import random
from collections.abc import Generator, Iterable, Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from .model.decisions import decision_id

__all__ = ["decision_id", "generate_events", "write_jsonl"]

# A script step: (seconds after the account's previous step, event type, type-specific fields).
# Scripts receive the emitted event's id back through ``send``, so later steps can name it.
_Step = tuple[int, str, dict[str, Any]]
_Script = Generator[_Step, str, None]

_MINUTE = 60
_HOUR = 3600
_DAY = 86_400
_CST = timezone(timedelta(hours=8))  # China Standard Time: no DST, one fixed offset
# Mean gap between one account's benign events: a week, shorter when many events per account
# must fit in about two years (down to a minute), so that timestamps stay plausible.
_BACKGROUND_GAP = 7 * _DAY
_MIN_BACKGROUND_GAP = _MINUTE
_TARGET_SPAN = 730 * _DAY
_MAX_REGISTRATION_SPAN = 365 * _DAY

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_ID_ZERO = ord("0") * sum(_ID_WEIGHTS)
_REGIONS = (
    "110101", "110102", "110105", "110106", "110108",
    "120101", "120103", "310101", "310104", "310105",
)  # fmt: skip
"""County codes of Beijing, Tianjin and Shanghai that existed for every birth year generated:
GB 11643 (python-stdnum) also checks that the county existed at the birth date."""
_PHONE_PREFIXES = ("138", "139", "137", "136", "135", "150", "151", "158", "186", "188")
_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林高罗"
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红鹏辉"
_REVIEWERS = tuple(f"rev-{i:02d}" for i in range(1, 13))
# Benign rumour flags as (verdict, source), repeated by weight and picked by index (faster than
# ``choices``): user reports are 60% and may claim anything, since only fact checks and
# authority notices count; those rarely find a rumour and never a malicious one here.
_BENIGN_FLAGS = (
    (("not_rumor", "user_report"),) * 6
    + (("rumor", "user_report"),) * 6
    + (("malicious_rumor", "user_report"),) * 3
    + (("not_rumor", "fact_check"),) * 3
    + (("rumor", "fact_check"),) * 2
    + (("not_rumor", "authority_notice"),) * 3
    + (("rumor", "authority_notice"),) * 2
)

# Who is suspicious, and with which scenario, is dealt from small shuffled decks rather than
# drawn independently, so that even a small sample (the 150-account example: 15 suspicious) shows
# the intended share and nearly every scenario in these proportions.
_SHARE_DECK_SIZE = 20
_SCENARIO_DECK = (
    ("mismatch",) * 4
    + ("forged_document",) * 2
    + ("identity_of_another_person",) * 1
    + ("invalid_id_number",) * 1
    + ("rumours",) * 3
    + ("impersonation",) * 2
    + ("review",) * 1
    + ("report_cluster",) * 1
    + ("reregistration",) * 1
)
# Chance that the background starts with a passed verification, by scenario. Scenarios about
# failed verification script their own outcome; a rumour-blacklisted identity must be verified to
# enter the blacklist, so a re-registration of it can be caught.
_VERIFY_SHARE = {
    "benign": 0.8,
    "mismatch": 0.0,
    "forged_document": 0.0,
    "identity_of_another_person": 0.0,
    "invalid_id_number": 0.0,
    "reregistration": 0.0,
    "rumours": 1.0,
    "impersonation": 0.5,
    "review": 0.8,
    "report_cluster": 0.8,
}


def _check_char(first17: str) -> str:
    """GB 11643 check character, so benign ID numbers pass the engine's own check."""
    # Multiplying ASCII codes and removing the weighted '0's avoids 17 ``int()`` calls.
    weighted = sum(map(operator.mul, first17.encode(), _ID_WEIGHTS)) - _ID_ZERO
    return _ID_CHECK[weighted % 11]


def _coprime_multiplier(rng: random.Random, modulus: int) -> int:
    """A multiplier that makes ``i -> (i * a + b) % modulus`` a bijection (unique identities)."""
    while True:
        a = rng.randrange(modulus // 3, modulus)
        if math.gcd(a, modulus) == 1:
            return a


class _World:
    """Shared state of one generated stream: the rng, identity mint and scenario scripts."""

    def __init__(self, rng: random.Random, start: datetime, background_gap: float) -> None:
        self.rng = rng
        self.background_rate = 1.0 / background_gap
        self.registered = 0
        # Adults of 18 to 65 at ``start``: no future or impossible birth dates.
        self.birth_min = date(start.year - 65, 1, 1).toordinal()
        self.birth_days = date(start.year - 18, 1, 1).toordinal() - self.birth_min
        self.id_modulus = len(_REGIONS) * 1000 * self.birth_days
        self.id_mul = _coprime_multiplier(rng, self.id_modulus)
        self.id_add = rng.randrange(self.id_modulus)
        self.phone_mul = _coprime_multiplier(rng, 10**8)
        self.phone_add = rng.randrange(10**8)
        self.share_deck: list[bool] = []
        self.share_dealt = 0.0  # suspicious accounts owed so far, fractions included
        self.scenario_deck: list[str] = []
        # Verified identities blacklisted by rumours, for the re-registration scenario. Identities
        # are kept as copies: a consumer may change the events it receives.
        self.blacklisted: list[dict[str, str]] = []
        # Latest benign identity, the victim of ``identity_of_another_person``.
        self.last_benign: dict[str, str] | None = None

    # -- identities -----------------------------------------------------------------------------

    def name(self) -> str:
        """A plausible Chinese name: surname and one or two given characters."""
        r = self.rng.random
        name = _SURNAMES[int(r() * len(_SURNAMES))] + _GIVEN[int(r() * len(_GIVEN))]
        return name + _GIVEN[int(r() * len(_GIVEN))] if r() < 0.7 else name

    def id_number(self, index: int) -> str:
        """Unique per account index (a bijection), with a valid check character."""
        x = (index * self.id_mul + self.id_add) % self.id_modulus
        x, region = divmod(x, len(_REGIONS))
        day, seq = divmod(x, 1000)
        birth = date.fromordinal(self.birth_min + day)
        first17 = f"{_REGIONS[region]}{birth.year:04d}{birth.month:02d}{birth.day:02d}{seq:03d}"
        return first17 + _check_char(first17)

    def phone(self, index: int) -> str:
        suffix = (index * self.phone_mul + self.phone_add) % 10**8
        return f"{_PHONE_PREFIXES[int(self.rng.random() * len(_PHONE_PREFIXES))]}{suffix:08d}"

    def registration(self, index: int, scenario: str) -> dict[str, Any]:
        """Registration fields; the scenario decides whose identity is presented."""
        rng = self.rng
        identity = {
            "id_number": self.id_number(index),
            "name": self.name(),
            "phone": self.phone(index),
            "device_id": f"dev-{rng.getrandbits(64):016x}",
        }
        if scenario == "reregistration" and self.blacklisted:
            old = self.blacklisted.pop(0)
            # Same person, phone written in another (equivalent) form: E.164 with spaces.
            p = old["phone"]
            identity |= {
                "id_number": old["id_number"],
                "name": old["name"],
                "phone": f"+86 {p[:3]} {p[3:7]} {p[7:]}",
            }
        elif scenario == "identity_of_another_person" and self.last_benign is not None:
            # The victim is (often) a user too: the same ID number on two accounts.
            identity |= {
                "id_number": self.last_benign["id_number"],
                "name": self.last_benign["name"],
            }
        elif scenario == "invalid_id_number":
            number = identity["id_number"]
            wrong = rng.choice([c for c in "0123456789X" if c != number[-1]])
            identity["id_number"] = number[:-1] + wrong
        elif scenario == "benign":
            self.last_benign = dict(identity)
        fields: dict[str, Any] = {"identity": identity}
        if rng.random() < 0.6:
            fields["verification"] = {"status": "pending"}
        return fields

    # -- scripts ----------------------------------------------------------------------------------

    def draw_scenario(self, benign_share: float) -> str:
        """``benign``, or a suspicious scenario for about ``1 - benign_share`` of the accounts."""
        if not self.share_deck:
            # Carry the rounding over from deck to deck, so that any share is met in the long run.
            owed = self.share_dealt + _SHARE_DECK_SIZE * (1.0 - benign_share)
            suspicious = round(owed) - round(self.share_dealt)
            self.share_dealt = owed
            self.share_deck = [True] * suspicious + [False] * (_SHARE_DECK_SIZE - suspicious)
            self.rng.shuffle(self.share_deck)
        if not self.share_deck.pop():
            return "benign"
        if not self.scenario_deck:
            self.scenario_deck = list(_SCENARIO_DECK)
            self.rng.shuffle(self.scenario_deck)
        scenario = self.scenario_deck.pop()
        if scenario == "reregistration" and not self.blacklisted:
            return "mismatch"  # nobody blacklisted yet: play the most common scenario instead
        return scenario

    def other_account(self, account_id: str) -> str:
        """Another account, most often one already registered (reporters, victims).

        Early in the stream it may name an account not registered yet: at least ten candidates
        keep the draw short and a three-reporter cluster possible.
        """
        while True:
            other = f"acct-{self.rng.randrange(max(self.registered, 10)):06d}"
            if other != account_id:
                return other

    def reach(self, malicious: bool) -> int:
        """Heavy-tailed audience size (Pareto is cheap to draw), capped at a plausible maximum."""
        return min(int((1000 if malicious else 20) * self.rng.paretovariate(1.5)), 50_000_000)

    def background(self, account_id: str, scenario: str) -> _Script:
        """Benign traffic, forever: the stream ends when ``n_events`` have been emitted."""
        rng = self.rng
        if rng.random() < _VERIFY_SHARE[scenario]:
            yield rng.randint(10 * _MINUTE, 2 * _DAY), "identity_verification", {"status": "passed"}
        # One reporter per account, so background reports never look like a reporter cluster.
        reporter = self.other_account(account_id)
        rate = self.background_rate
        while True:
            gap = 1 + int(rng.expovariate(rate))
            if rng.random() < 0.96:
                verdict, source = _BENIGN_FLAGS[int(rng.random() * len(_BENIGN_FLAGS))]
                fields = {
                    "content_id": f"c-{rng.getrandbits(48):012x}",
                    "verdict": verdict,
                    "source": source,
                    "reach": self.reach(malicious=False),
                }
                yield gap, "rumor_flag", fields
            else:
                fields = {"reporter_id": reporter, "impersonated_name": self.name()}
                yield gap, "impersonation_report", fields | {"confirmed": False}

    def script(self, account_id: str, scenario: str, identity: dict[str, str]) -> _Script | None:
        """The suspicious scenario's own events, interleaved with the background by time."""
        match scenario:
            case "mismatch":
                return self._mismatch()
            case "forged_document" | "identity_of_another_person" | "invalid_id_number":
                return self._proven_fake(account_id, scenario)
            case "rumours":
                return self._rumours(identity)
            case "impersonation":
                return self._impersonation(account_id)
            case "review":
                return self._review()
            case "report_cluster":
                return self._report_cluster(account_id)
            case _:
                return None

    def _review_step(self, delay: int, action: str, reason: str) -> _Step:
        fields = {"reviewer_id": self.rng.choice(_REVIEWERS), "action": action, "reason": reason}
        return delay, "review_decision", fields

    def _mismatch(self) -> _Script:
        """Typo or false name: failed, sometimes again, and in most cases fixed later."""
        rng = self.rng
        failed = {"status": "failed", "reason": "name_id_mismatch"}
        yield rng.randint(5 * _MINUTE, 2 * _DAY), "identity_verification", failed
        if rng.random() < 0.3:
            yield rng.randint(_HOUR, 3 * _DAY), "identity_verification", failed
        roll = rng.random()
        if roll < 0.5:  # fixed within the 15-day grace period
            yield rng.randint(_HOUR, 12 * _DAY), "identity_verification", {"status": "passed"}
        elif roll < 0.65:  # fixed too late: the account was cancelled meanwhile
            yield rng.randint(16 * _DAY, 40 * _DAY), "identity_verification", {"status": "passed"}

    def _proven_fake(self, account_id: str, reason: str) -> _Script:
        """Fake or stolen identity; a forged-document cancel is sometimes appealed."""
        rng = self.rng
        failed = {"status": "failed", "reason": reason}
        event_id = yield rng.randint(10 * _MINUTE, 3 * _DAY), "identity_verification", failed
        if reason == "forged_document" and rng.random() < 0.75:
            upheld = rng.random() < 0.6
            fields = {
                "decision_id": decision_id(event_id, account_id, "enforce"),
                "outcome": "upheld" if upheld else "overturned",
                "reviewer_id": rng.choice(_REVIEWERS),
                "reason": "document confirmed forged" if upheld else "original document produced",
            }
            yield rng.randint(3 * _DAY, 30 * _DAY), "appeal_outcome", fields

    def _rumours(self, identity: dict[str, str]) -> _Script:
        """One to three fact-checked malicious rumours weeks apart: freeze at 2, blacklist at 3."""
        rng = self.rng
        count = rng.choice((1, 2, 2, 3, 3))
        for i in range(count):
            delay = rng.randint(_DAY, 10 * _DAY) if i == 0 else rng.randint(5 * _DAY, 30 * _DAY)
            fields = {
                "content_id": f"c-{rng.getrandbits(48):012x}",
                "verdict": "malicious_rumor",
                "source": rng.choice(("fact_check", "authority_notice")),
                "reach": self.reach(malicious=True),
            }
            yield delay, "rumor_flag", fields
        if count == 3:
            self.blacklisted.append(dict(identity))
        elif count == 2 and rng.random() < 0.3:
            yield self._review_step(rng.randint(_DAY, 10 * _DAY), "lift", "satire, not a rumour")

    def _impersonation(self, account_id: str) -> _Script:
        """A report, then a reviewer confirms the account was opened in someone else's name."""
        rng = self.rng
        reporter = self.other_account(account_id)
        target: dict[str, Any] = (
            {"impersonated_name": self.name()}
            if rng.random() < 0.5
            else {"impersonated_account_id": self.other_account(account_id)}
        )
        report = {"reporter_id": reporter, **target}
        if rng.random() < 0.5:
            unconfirmed = report | {"confirmed": False}
            yield rng.randint(_HOUR, 10 * _DAY), "impersonation_report", unconfirmed
        yield rng.randint(_HOUR, 10 * _DAY), "impersonation_report", report | {"confirmed": True}

    def _review(self) -> _Script:
        """A human acts on its own findings: freeze then lift or cancel, or act at once."""
        rng = self.rng
        delay = rng.randint(2 * _DAY, 30 * _DAY)
        roll = rng.random()
        if roll < 0.6:
            yield self._review_step(delay, "freeze", "suspicious payment pattern under review")
            if rng.random() < 0.6:
                yield self._review_step(rng.randint(_DAY, 20 * _DAY), "lift", "payments explained")
            else:
                yield self._review_step(rng.randint(_DAY, 20 * _DAY), "cancel", "fraud confirmed")
        elif roll < 0.8:
            yield self._review_step(delay, "cancel", "terms of service violation")
        else:
            yield self._review_step(delay, "blacklist", "coordinated fraud ring member")

    def _report_cluster(self, account_id: str) -> _Script:
        """Three distinct reporters within a week (freeze pending review), then a reviewer."""
        rng = self.rng
        name = self.name()
        reporters: set[str] = set()
        while len(reporters) < 3:
            reporters.add(self.other_account(account_id))
        for i, reporter in enumerate(sorted(reporters)):
            delay = rng.randint(_DAY, 10 * _DAY) if i == 0 else rng.randint(_HOUR, 3 * _DAY)
            fields = {"reporter_id": reporter, "impersonated_name": name, "confirmed": False}
            yield delay, "impersonation_report", fields
        roll, delay = rng.random(), rng.randint(_DAY, 5 * _DAY)
        if roll < 0.4:
            yield self._review_step(delay, "lift", "reports not substantiated")
        elif roll < 0.75:  # a reviewer confirms the last report
            fields |= {"confirmed": True}
            yield delay, "impersonation_report", fields


def generate_events(
    n_events: int,
    *,
    n_accounts: int,
    seed: int = 0,
    start: datetime = datetime(2026, 1, 1, tzinfo=UTC),
    benign_share: float = 0.9,
) -> Iterator[dict[str, Any]]:
    """Yield ``n_events`` JSON-compatible events for up to ``n_accounts`` accounts.

    Same arguments, same events: all randomness comes from ``random.Random(seed)``. Events come in
    non-decreasing ``occurred_at`` order (whole seconds, offset ``+08:00``), each account's first
    event is its registration, and registrations spread so that all accounts have joined well
    before the end when ``n_events`` is several times ``n_accounts``. Memory holds one pending
    step per account script, never the events already yielded. With many events per account the
    dates run past today (30,000 events of 500 accounts reach 2027-05): replay those unbounded
    by the wall clock (`Engine.from_path(..., max_lead=None)`, `run --max-lead 36500d`).

    Raises:
        ValueError: for a negative count, no accounts, a share outside [0, 1] or a naive start.
    """
    if n_events < 0:
        raise ValueError(f"n_events must be >= 0, got {n_events}")
    if n_accounts < 1:
        raise ValueError(f"n_accounts must be >= 1, got {n_accounts}")
    if not 0.0 <= benign_share <= 1.0:
        raise ValueError(f"benign_share must be within [0, 1], got {benign_share}")
    if start.tzinfo is None or start.utcoffset() is None:
        raise ValueError(f"start must be timezone-aware, got {start.isoformat()}")
    return _stream(n_events, n_accounts, seed, start, benign_share)


def _gaps(n_events: int, n_accounts: int) -> tuple[float, float]:
    """The mean gaps between an account's benign events and between registrations (seconds)."""
    # With k events per account and mean gap g, the stream lasts about r / 2 + (k - 1) * g, where
    # r is the registration span. Registrations take half of (k - 1) gaps, capped at a year: they
    # end when about a third of the events are out, leaving time for scenarios to unfold before
    # the stream is cut at ``n_events``.
    extra_per_account = max(n_events / n_accounts - 1.0, 1.0)
    gap = min(max(_TARGET_SPAN / (1.25 * extra_per_account), _MIN_BACKGROUND_GAP), _BACKGROUND_GAP)
    return gap, min(0.5 * extra_per_account * gap, _MAX_REGISTRATION_SPAN) / n_accounts


def _stream(
    n_events: int, n_accounts: int, seed: int, start: datetime, benign_share: float
) -> Iterator[dict[str, Any]]:
    """The generator behind ``generate_events`` (split so bad arguments fail at the call)."""
    gap, reg_gap = _gaps(n_events, n_accounts)
    rng = random.Random(seed)
    world = _World(rng, start, gap)
    # Timestamps are formatted by hand from a per-day prefix: ``isoformat`` of an aware datetime
    # costs about 2 us, a fifth of the time an event takes.
    base = start.astimezone(_CST).replace(microsecond=0)
    midnight = base.replace(hour=0, minute=0, second=0)
    first_second = base.hour * _HOUR + base.minute * _MINUTE + base.second
    day_cached, prefix = -1, ""
    heap: list[tuple[int, int, str, _Script, str, dict[str, Any]]] = []
    seq = 0  # tie-breaker: equal times keep scheduling order, so scripts stay in order
    next_reg = 0.0
    emitted = 0
    while emitted < n_events:
        if world.registered < n_accounts and (not heap or int(next_reg) <= heap[0][0]):
            now, account_id, etype = int(next_reg), f"acct-{world.registered:06d}", "registration"
            scenario = world.draw_scenario(benign_share)
            fields = world.registration(world.registered, scenario)
            scripts = [world.background(account_id, scenario)]
            story = world.script(account_id, scenario, fields["identity"])
            if story is not None:
                scripts.append(story)
            world.registered += 1
            next_reg += rng.expovariate(1.0 / reg_gap)
            for script in scripts:
                delay, stype, sfields = next(script)
                heapq.heappush(heap, (now + max(delay, 1), seq, account_id, script, stype, sfields))
                seq += 1
        else:
            now, _, account_id, script, etype, fields = heapq.heappop(heap)
        emitted += 1
        event_id = f"ev-{emitted:09d}"
        day, second = divmod(first_second + now, _DAY)
        if day != day_cached:
            day_cached, prefix = day, (midnight + timedelta(days=day)).strftime("%Y-%m-%dT")
        hour, second = divmod(second, _HOUR)
        minute, second = divmod(second, _MINUTE)
        event = {
            "event_id": event_id,
            "type": etype,
            "account_id": account_id,
            "occurred_at": f"{prefix}{hour:02d}:{minute:02d}:{second:02d}+08:00",
        }
        event.update(fields)
        yield event
        if etype != "registration":
            try:
                delay, stype, sfields = script.send(event_id)
            except StopIteration:
                continue
            heapq.heappush(heap, (now + max(delay, 1), seq, account_id, script, stype, sfields))
            seq += 1


def write_jsonl(events: Iterable[dict[str, Any]], path: Path) -> int:
    """Write one compact JSON object a line (UTF-8, names unescaped); return how many."""
    count = 0
    with path.open("w", encoding="utf-8", newline="\n") as out:
        for event in events:
            out.write(json.dumps(event, ensure_ascii=False, separators=(",", ":")))
            out.write("\n")
            count += 1
    return count
