"""Pre-registration checks: `Engine.is_blacklisted` beside the libraries called directly.

    PYTHONPATH=src python bench/bench_identity.py                    # the figures in README.md
    PYTHONPATH=src python bench/bench_identity.py --people 2000 --checks 20000 --repeat 1
    PYTHONPATH=src python bench/bench_identity.py --json identity.json

Setup, not timed: `--people` people register (verified) and are blacklisted through the engine,
with real events into a real SQLite file: two entries each (ID number, phone). The db is then
opened again (that loads the blacklist) and `--checks` identities are drawn, one
`{"id_number", "phone"}` per check as an operator sends it before creating an account, each value
written in one of several forms (plain, blanks, hyphens, lower-case `x`; national, `+86` with
blanks). Two mixes: **typical**, 1 % of checks about listed people (most people who register were
never blacklisted), and **stress**, 50 %. A check that finds nothing is answered from memory; one
that finds a listed value asks SQLite whether the entry is in force (so hits cost more).

Variants, the same checks, one pass each per round, their order rotating:

- **ours**: `engine.is_blacklisted(identity)`.
- **libraries**: what one would write with the libraries alone: `stdnum.cn.ric.validate`,
  `phonenumbers.parse` + `is_valid_number` + `format_number(E164)`, the same keyed fingerprints,
  a lookup in a dict of them. It gives the same answers (checked).

One process, one core (the engine is single-threaded). Ratios hold on a noisy machine; the
issue's target is absolute: at least 100,000 checks/s.
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

import phonenumbers
from bench_core import add_output_arguments, emit, fmt_mib, machine, rss_bytes
from stdnum.cn import ric
from stdnum.exceptions import ValidationError

from blacklist_rules import Engine, IdentityKey
from blacklist_rules.engine.mirrors import load_listed

TARGET = 100_000
START = datetime(2026, 1, 1, tzinfo=UTC)
KEY = IdentityKey(b"bench-identity-key-" + b"0" * 32, "bench")
AREAS = ("110101", "110102", "310101", "310104", "120101")

Identity = dict[str, str]


def person(index: int) -> tuple[str, str]:
    """A valid ID number and a mobile number, unique per index."""
    born = START.date() - timedelta(days=7000 + index % 15000)
    first17 = f"{AREAS[index % len(AREAS)]}{born:%Y%m%d}{index // 15000 % 1000:03d}"
    return first17 + ric.calc_check_digit(first17 + "0"), f"139{index:08d}"


def written(rng: random.Random, number: str, phone: str) -> Identity:
    """The values in one of the forms operators send."""
    number = rng.choice(
        (
            number,
            number.lower(),
            f"{number[:6]} {number[6:14]} {number[14:]}",
            f"{number[:6]}-{number[6:]}",
        )
    )
    phone = rng.choice((phone, f"+86 {phone[:3]} {phone[3:7]} {phone[7:]}", f"+86{phone}"))
    return {"id_number": number, "phone": phone}


def build_db(db: Path, people: int) -> None:
    """Each person registers verified and a reviewer confirms an impersonation: blacklisted."""
    with Engine.from_path(db=db, identity_key=KEY, max_lead=None) as engine, engine.batch():
        for index in range(people):
            number, phone = person(index)
            at = START + timedelta(seconds=index)
            account = f"acct-{index:07d}"
            engine.process(
                {
                    "event_id": f"reg-{index}",
                    "type": "registration",
                    "account_id": account,
                    "occurred_at": at.isoformat(),
                    "identity": {"id_number": number, "phone": phone},
                    "verification": {"status": "passed"},
                }
            )
            engine.process(
                {
                    "event_id": f"imp-{index}",
                    "type": "impersonation_report",
                    "account_id": account,
                    "occurred_at": (at + timedelta(hours=1)).isoformat(),
                    "reporter_id": "bench",
                    "confirmed": True,
                }
            )


def libraries_check(listed: Mapping[str, object]) -> Callable[[Identity], bool]:
    """The check written with python-stdnum and phonenumbers directly."""

    def check(identity: Identity) -> bool:
        try:
            number = ric.validate(identity["id_number"].replace("-", ""))
        except ValidationError:
            number = None
        if number is not None and KEY.fingerprint("id_number", number) in listed:
            return True
        try:
            parsed = phonenumbers.parse(identity["phone"], "CN")
        except phonenumbers.NumberParseException:
            return False
        if not phonenumbers.is_valid_number(parsed):
            return False
        e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
        return KEY.fingerprint("phone", e164) in listed

    return check


def timed(check: Callable[[Identity], bool], checks: Sequence[Identity]) -> tuple[float, int]:
    gc.collect()
    start = time.perf_counter()
    found = sum(1 for identity in checks if check(identity))
    return time.perf_counter() - start, found


MIXES = {"typical": 0.01, "stress": 0.5}
"""Share of checks about listed people."""


def measure(
    people: int, n_checks: int, repeat: int, seed: int, tmpdir: Path | None
) -> dict[str, Any]:
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="bench-identity-", dir=tmpdir) as tmp:
        db = Path(tmp) / "bench.db"
        began = time.perf_counter()
        build_db(db, people)
        print(
            f"setup: {people:,} blacklisted in {time.perf_counter() - began:.1f} s", file=sys.stderr
        )
        gc.collect()
        before = rss_bytes()
        engine = Engine.from_path(db=db, identity_key=KEY, max_lead=None)
        opening_bytes = rss_bytes() - before
        # The in-memory listing alone, counted exactly (RSS moves by whole arenas).
        tracemalloc.start()
        listing = load_listed(engine.store)
        listing_bytes = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        del listing
        entries = engine.blacklist_entries()
        listed = {entry.fingerprint: entry for entry in entries}
        checks: dict[str, list[Identity]] = {}
        for mix, share in MIXES.items():
            checks[mix] = []
            for _ in range(n_checks):
                listed_person = rng.random() < share
                index = rng.randrange(people) if listed_person else people + rng.randrange(10**6)
                checks[mix].append(written(rng, *person(index)))
        variants: dict[str, Callable[[Identity], bool]] = {
            "ours": engine.is_blacklisted,
            "libraries": libraries_check(listed),
        }
        runs = [(mix, name) for mix in MIXES for name in variants]
        rates: dict[str, list[float]] = {f"{mix}/{name}": [] for mix, name in runs}
        found: dict[str, int] = {}
        for round_ in range(repeat):
            turn = round_ % len(runs)
            for mix, name in runs[turn:] + runs[:turn]:
                seconds, found[f"{mix}/{name}"] = timed(variants[name], checks[mix])
                rates[f"{mix}/{name}"].append(n_checks / seconds)
                print(
                    f"round {round_ + 1}: {mix} {name} {n_checks / seconds:,.0f}", file=sys.stderr
                )
        engine.close()
    mixes = {}
    for mix, share in MIXES.items():
        if found[f"{mix}/ours"] != found[f"{mix}/libraries"]:
            raise SystemExit(f"the variants disagree: {found}")
        ours = statistics.median(rates[f"{mix}/ours"])
        libraries = statistics.median(rates[f"{mix}/libraries"])
        mixes[mix] = {
            "listed_share": share,
            "blacklisted_answers": found[f"{mix}/ours"],
            "ours_checks_per_s": ours,
            "libraries_checks_per_s": libraries,
            "ratio_ours_to_libraries": ours / libraries,
            "target_met": ours >= TARGET,
        }
    return {
        "machine": machine(),
        "people": people,
        "entries": len(entries),
        "checks": n_checks,
        "rounds": repeat,
        "target_checks_per_s": TARGET,
        "mixes": mixes,
        "rounds_checks_per_s": rates,
        "opening_rss_bytes": opening_bytes,
        "listing_bytes": listing_bytes,
        "listing_bytes_per_entry": listing_bytes / max(len(entries), 1),
    }


def print_table(report: dict[str, Any], out: TextIO) -> None:
    print(
        f"{report['checks']:,} checks a pass against {report['entries']:,} entries "
        f"({report['people']:,} blacklisted people), {report['rounds']} rounds, medians "
        f"(target: {report['target_checks_per_s']:,} checks/s)",
        file=out,
    )
    for mix, found in report["mixes"].items():
        print(
            f"  {mix} ({found['listed_share']:.0%} about listed people, "
            f"{found['blacklisted_answers']:,} blacklisted answers in both variants)",
            file=out,
        )
        for name in ("ours", "libraries"):
            rounds = " / ".join(f"{r:,.0f}" for r in report["rounds_checks_per_s"][f"{mix}/{name}"])
            rate = found[f"{name}_checks_per_s"]
            print(f"    {name:10} {rate:>10,.0f} checks/s   ({rounds})", file=out)
        met = "met" if found["target_met"] else "MISSED"
        print(
            f"    ours / libraries {found['ratio_ours_to_libraries']:.2f}x; target {met}", file=out
        )
    print(
        f"  the blacklist in memory: {fmt_mib(report['listing_bytes'])} (tracemalloc), "
        f"{report['listing_bytes_per_entry']:.0f} B per entry; opening the db: "
        f"+{fmt_mib(report['opening_rss_bytes'])} RSS",
        file=out,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--people", type=int, default=20_000, help="blacklisted (20,000)")
    parser.add_argument("--checks", type=int, default=200_000, help="checks a pass (200,000)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds (3)")
    parser.add_argument("--seed", type=int, default=1)
    add_output_arguments(parser)
    args = parser.parse_args(argv)
    report = measure(args.people, args.checks, args.repeat, args.seed, args.tmpdir)
    return emit(report, args.json, lambda out: print_table(report, out))


if __name__ == "__main__":
    sys.exit(main())
