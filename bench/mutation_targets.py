"""The targets of bench/mutation.py: which module (or functions of one) each mutates, the
tests run against its mutants, and the survivors known to be equivalent, each with why. Kept
apart from the runner so a target is added here without touching how mutants are run: add a
`Target` to `TARGETS` under a short name (the name `python bench/mutation.py NAME` takes), its
tests chosen so it runs in minutes, and list each surviving mutant that changes no behaviour
in `equivalent` with the reason."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Target:
    """One module (or some functions of one) and the tests run against its mutants."""

    module: str
    tests: tuple[str, ...]
    names: tuple[str, ...] = ()
    """Globs of mutant names to run (empty: every mutant of the module)."""
    equivalent: dict[str, str] = field(default_factory=dict)
    """Surviving mutants that change no behaviour, each with why."""


_STORE = "blacklist_rules.stores.sqlite.retention.xǁSQLiteRetentionǁ"
_POLICY = "blacklist_rules.stores.sqlite.retention.xǁRetentionPolicyǁ"
_WINDOWS = "blacklist_rules.windows."
_TIME_ORDER = "blacklist_rules.engine.time_order."

TARGETS = {
    "history": Target(
        "src/blacklist_rules/model/history.py",
        ("tests/test_history.py", "tests/test_mutants_history.py"),
        equivalent={
            "blacklist_rules.model.history.x_late_firings__mutmut_11": "an event exactly a span "
            "after the late one is then not skipped, but its window leaves the late one out: "
            "both counts agree and nothing fires (the skip only saves work)",
        },
    ),
    "windows": Target(
        "src/blacklist_rules/windows.py",
        (
            "tests/test_window_cost.py",
            "tests/test_history.py",
            "tests/test_mutants_history.py",
            "tests/test_mutants_windows.py",
        ),
        equivalent={
            f"{_WINDOWS}{name}__mutmut_{n}": why
            for name, n, why in (
                ("x__page_sizes", 2, "a first page of 17 rows, not 16: only reads more rows"),
                (
                    "x__page_sizes",
                    10,
                    "pages of 16, 48, 64 rows, not 16, 32, 64: only reads more rows a page",
                ),
                (
                    "x_feature_caps",
                    13,
                    "max(1, count) is count: a rule's count is at least 1 (spec: ge=1)",
                ),
                (
                    "xǁStreamWindowǁhas_after",
                    12,
                    "a page of up to 2 rows is as empty or not as one of 1",
                ),
                (
                    "xǁStreamWindowǁ_late_counted",
                    4,
                    "'' is no moment, as None is not: the first row is a new moment both ways",
                ),
                (
                    "xǁStreamWindowǁ_late_counted",
                    12,
                    "one more moment tried: with `needed` "
                    "rows after the late one in its window it is never completed by it",
                ),
                (
                    "xǁStreamWindowǁ_late_distinct",
                    18,
                    "the late row, at `at_us`, is outside (at, moment] anyway",
                ),
                (
                    "xǁStreamWindowǁ_late_distinct",
                    23,
                    "only stops later: past that moment no "
                    "window needs the late row, and each moment tried is judged by its counts",
                ),
                (
                    "xǁStreamWindowǁ_late_distinct",
                    25,
                    "only stops later: past that moment no "
                    "window needs the late row, and each moment tried is judged by its counts",
                ),
                (
                    "xǁStreamWindowǁ_late_distinct",
                    52,
                    "the first row in [moment, moment + 2) "
                    "is at the moment: a firing moment has a counting row there",
                ),
                (
                    "xǁStreamWindowǁ_late_distinct",
                    74,
                    "`left` is never None there: the window "
                    "holds `needed` values without the late row, fewer after it, so a row before",
                ),
                (
                    "xǁStreamWindowǁ_late_distinct",
                    85,
                    "max(left, moment - 1) is left: the "
                    "departing row is in the window, so it leaves after the moment",
                ),
                (
                    "xǁStreamWindowǁ_next_departure",
                    8,
                    "a counting row at or before the late "
                    "one is always there and comes before any a µs after it",
                ),
                (
                    "xǁStreamWindowǁ_next_departure",
                    10,
                    "the next moment tried is then the "
                    "next row: more moments tried, each judged by its counts",
                ),
            )
        },
    ),
    "chain": Target(
        "src/blacklist_rules/model/chain.py",
        (
            "tests/test_chain.py",
            "tests/test_audit_head.py",
            "tests/test_mutants_chain.py",
            # It runs the README's shell routine: README.md is not copied to the mutants' folder.
            "--deselect=tests/test_audit_head.py::test_the_readme_publishing_routine_runs_as_documented",
        ),
        equivalent={
            "blacklist_rules.model.chain.x_record_hash__mutmut_3": "ensure_ascii=None is false, "
            "as False is",
            "blacklist_rules.model.chain.x_record_hash__mutmut_10": "the key separator: the hashed "
            "list holds column values (text, numbers, null), never an object",
            "blacklist_rules.model.chain.x_record_hash__mutmut_17": "codec names ignore case: "
            "'UTF-8' is 'utf-8'",
            "blacklist_rules.model.chain.x__checkpoint__mutmut_4": "'' for unreadable JSON: "
            "not a dict, malformed as None is",
            "blacklist_rules.model.chain.x__corroborate__mutmut_6": "'' for unreadable JSON: "
            "not a dict, refused as None is",
            "blacklist_rules.model.chain.xǁ_Walkǁend__mutmut_28": "split(':') and split(':', 1) "
            "have the same first part",
            "blacklist_rules.model.chain.xǁ_Walkǁend__mutmut_31": "split(':', 2) and split(':', 1) "
            "have the same first part",
            "blacklist_rules.model.chain.xǁ_BrokenErrorǁ__init____mutmut_1": "the exception's "
            "args: verify catches it and reads only .seq and .problem",
            "blacklist_rules.model.chain.x_verify__mutmut_80": "split(':') and split(':', 1) have "
            "the same first part",
            "blacklist_rules.model.chain.x_verify__mutmut_83": "split(':', 2) and split(':', 1) "
            "have the same first part",
        },
    ),
    "decisions": Target(
        "src/blacklist_rules/model/decisions.py",
        # (with tests/test_persistence.py too the run took 16 minutes, not 1, and killed none
        # of the survivors below)
        ("tests/test_engine.py", "tests/test_mutants_decisions.py"),
        equivalent={
            f"blacklist_rules.model.decisions.xǁDecisionǁto_dict__mutmut_{n}": why
            for n, why in (
                (3, "recurse=None: the only attrs-typed field (matched) is rebuilt below"),
                (5, "recurse=True is asdict's default"),
                (6, "recurse=False: the only attrs-typed field (matched) is rebuilt below"),
            )
        },
    ),
    "identity": Target(
        "src/blacklist_rules/model/identity.py",
        (
            "tests/test_identity.py",
            "tests/test_identity_values.py",
            "tests/test_blacklist.py",
            "tests/test_mutants_identity.py",
            # 40 of the 50 seconds these files take, for every mutant they reach: properties
            # over random arrival orders, left out to keep the run within its budget.
            "--deselect=tests/test_blacklist.py::test_arrival_order_does_not_change_who_is_blacklisted",
            "--deselect=tests/test_blacklist.py::test_windows_by_an_identity_are_sets_not_arrival_orders",
        ),
        equivalent={
            "blacklist_rules.model.identity.x_generated_key__mutmut_5": "token_hex(None) is "
            "token_hex(32): 32 bytes is its default",
            "blacklist_rules.model.identity.x__cn_mobile_digits__mutmut_5": "the fast path off "
            "(len 12): the general path returns the same 11 digits",
            "blacklist_rules.model.identity.x__cn_mobile_digits__mutmut_8": "the fast path off "
            "('XX1XX'): the general path returns the same 11 digits",
            **{
                f"blacklist_rules.model.identity.x_compact_id_number__mutmut_{n}": "the fast path "
                "for other lengths: an ASCII alphanumeric value has nothing to remove either"
                for n in (3, 4)
            },
            **{
                f"blacklist_rules.model.identity.x_normalise_phone__mutmut_{n}": "the fast path "
                "off: phonenumbers' parser gives the same E.164 number or None (a test holds "
                "the two ways equal)"
                for n in (6, 7, 11, 12)
            },
            **{
                f"blacklist_rules.model.identity.x_load_key__mutmut_{n}": "the new key file's "
                "encoding: its text is hex digits, the same bytes in any ASCII-compatible one"
                for n in (32, 35, 39)
            },
            "blacklist_rules.model.identity.x_load_key__mutmut_42": "token_hex(None) is "
            "token_hex(32): 32 bytes is its default",
            "blacklist_rules.model.identity.x_load_key__mutmut_62": "'ASCII' is 'ascii'",
            "blacklist_rules.model.identity.x_fingerprints__mutmut_15": "a device's problem code "
            "is never used: an unusable device id is no problem",
            **{
                f"blacklist_rules.model.identity.x_identity_value__mutmut_{n}": why
                for n, why in (
                    (4, "0 excluded from the int path: '0' is too short (under 3) anyway"),
                    (5, "0 excluded from the int path: '0' is too short (under 3) anyway"),
                    (6, "10**64 included: its 65 digits are over the 64 limit anyway"),
                    (8, "ints up to 11**64: all over 64 digits, over the limit anyway"),
                    (
                        14,
                        "3 characters refused: none is an identity value (an ID number has "
                        "18, no valid phone has 3)",
                    ),
                    (
                        15,
                        "3 characters refused: none is an identity value (an ID number has "
                        "18, no valid phone has 3)",
                    ),
                    (
                        30,
                        "short values compacted too: under 18 characters none fits the "
                        "18-character shape",
                    ),
                    (34, "'XXXX' for a short value: it fails the shape, as '' does"),
                )
            },
            "blacklist_rules.model.identity.x_load_key__mutmut_57": "'ASCII' is 'ascii'",
            "blacklist_rules.model.identity.xǁIdentityKeyǁfingerprint__mutmut_10": "codec names "
            "ignore case: 'UTF-8' is 'utf-8'",
            "blacklist_rules.model.identity.x_mask_identity_values__mutmut_2": "changed = None "
            "starts false, as False does: `None or a or b` is the same truth",
            "blacklist_rules.model.identity.x_lookup_prints__mutmut_2": "`type(x) is not dict` is "
            "a fast path: a dict is a Mapping, so the isinstance test alone decides alike",
        },
    ),
    "compiler": Target(
        "src/blacklist_rules/pack/compiler.py",
        (
            "tests/test_matching.py",
            "tests/test_patterns.py",
            "tests/test_history.py",
            "tests/test_mutants_compiler.py",
        ),
        equivalent={
            **{
                f"blacklist_rules.pack.compiler.x__canonical__mutmut_{n}": why
                for n, why in (
                    (2, "sort_keys=None: stream-key dicts (durable terms) have one key each"),
                    (4, "default=None: stream-key values are JSON already, never repr'd"),
                    (6, "no sort_keys: stream-key dicts (durable terms) have one key each"),
                    (8, "no default: stream-key values are JSON already, never repr'd"),
                    (9, "sort_keys=False: stream-key dicts (durable terms) have one key each"),
                )
            },
            **{
                f"blacklist_rules.pack.compiler.x__compare_python__mutmut_{n}": "s.get(field, "
                "None) for the sentinel: a rule's values are never null (Scalar is str, bool, "
                "int), so None stands for an absent field as well"
                for n in (35, 37, 52, 54)
            },
            **{
                f"blacklist_rules.pack.compiler.x__rule_content__mutmut_{n}": "pydantic reads any "
                "mode but 'json' as 'python', and a rule spec holds only str, int, bool, None, "
                "lists and models, which json.dumps writes alike in both"
                for n in (2, 4, 6, 7)
            },
            **{
                f"blacklist_rules.pack.compiler.x_compile_rules__mutmut_{n}": "the dsa block in "
                "python mode (pydantic's reading of any mode but 'json'): its values are "
                "str and lists of str, the same in both"
                for n in (110, 111, 112)
            },
            "blacklist_rules.pack.compiler.x__digest__mutmut_26": "ensure_ascii=None is false, "
            "as False is",
            **{
                f"blacklist_rules.pack.compiler.x_compile_rules__mutmut_{n}": "the path of a "
                "comparison the compiler makes (window count, deadline) is never read: paths "
                "locate check errors, and checks run before compiling"
                for n in (32, 39, 40, 47, 54, 55, 61, 64, 65)
            },
        },
    ),
    "times": Target(
        "src/blacklist_rules/model/times.py",
        (
            "tests/test_events.py",
            "tests/test_boundaries.py",
            "tests/test_event_time_merge.py",
            "tests/test_mutants_times.py",
        ),
    ),
    "prior": Target(
        "src/blacklist_rules/engine/prior.py",
        (
            "tests/test_prior.py",
            "tests/test_prior_reports.py",
            "tests/test_time_order.py",
            "tests/test_mutants_prior.py",
        ),
    ),
    "time_order": Target(
        "src/blacklist_rules/engine/time_order.py",
        (
            "tests/test_time_order.py",
            "tests/test_lists_late.py",
            "tests/test_late_deadlines.py",
            "tests/test_late_deadline_chain.py",
            "tests/test_mutants_time_order.py",
        ),
        equivalent={
            f"{_TIME_ORDER}{name}__mutmut_{n}": why
            for name, numbers, why in (
                (
                    "x__again",
                    (20, 22),
                    "by_type has every type a rule is on, and only those are decided again",
                ),
                (
                    "x__snapshot",
                    (43, 45),
                    "listed has every type a rule is on: the default is unused",
                ),
                (
                    "x__windows",
                    (9, 11),
                    "by_type has every type a rule is on: the default is unused",
                ),
                (
                    "x__again",
                    (65, 67),
                    "counted has a key for every prior test of the type (prior_facts), so the "
                    "default is unused",
                ),
                (
                    "x__again",
                    (87,),
                    "the label only names the occasion in the error raised when durable-rules "
                    "and the guards disagree, which they do not",
                ),
                (
                    "x__again",
                    (26,),
                    "exempting widened to window rules without unless_listed: they join "
                    "`dependent` on both sides (matched before, kept after), and join `reread` "
                    "only when sharing a stream with an exempting rule, whose window read again "
                    "within the horizon gives the count they were matched on",
                ),
                (
                    "x__windows",
                    (13,),
                    "windows of rules without unless_listed read too: their counts join the "
                    "snapshot, but such rules are kept, never taken from the re-read (reread "
                    "is cut to exempting); a stream already found is read again to the same",
                ),
                (
                    "x__windows",
                    (22, 23, 24, 25, 26, 27, 28, 40),
                    "the window's fed row is read only by late_firings and the departure of a "
                    "late event's own row; a stored event read again is in the history, which "
                    "features and window_evidence read",
                ),
                (
                    "x__own_decisions",
                    (5, 7),
                    "by_type has every type a rule is on: the default is unused",
                ),
                (
                    "x__reverse",
                    (6, 8),
                    "ctx.event is set on every path to _reverse (meet_late and follow run in an "
                    "event's pipeline), so the fallback is not taken",
                ),
                (
                    "x_redecide_later",
                    (7,),
                    "follow returns before when the clock is None, and no types read no events",
                ),
                (
                    "x_redecide_later",
                    (25, 27),
                    "sorting (time, event id, event) without a key: event ids are unique, so "
                    "the event is never compared and the order is the same",
                ),
                (
                    "x_meet_late",
                    (4,),
                    "the pipeline moves the clock (advance) before meet_late, so it is set",
                ),
                (
                    "x_meet_late",
                    (10,),
                    "an event at the clock is at or after every fired deadline's due time (one "
                    "fires once the clock reaches it), so it meets none",
                ),
                (
                    "x_meet_late",
                    (64,),
                    "registry.sync makes the entries what the standing decisions call for: "
                    "with no blacklist taken back it changes nothing",
                ),
                (
                    "x__again",
                    (135,),
                    "_windows put the whole counts in the snapshot (caps None), so match.exact "
                    "reading the windows again finds the count the trace already has",
                ),
            )
            for n in numbers
        },
    ),
    "match": Target(
        "src/blacklist_rules/engine/match.py",
        (
            "tests/test_history.py",
            "tests/test_prior.py",
            "tests/test_lists_late.py",
            "tests/test_window_cost.py",
            "tests/test_account_facts.py",
            "tests/test_boundaries.py",
            "tests/test_mutants_match.py",
        ),
        equivalent={
            f"blacklist_rules.engine.match.{name}__mutmut_{n}": why
            for name, n, why in (
                (
                    "x_exact",
                    7,
                    "`test is not None or conditions`: with no window test the match is "
                    "returned before `seen` is read, and a window rule always has conditions",
                ),
                (
                    "x_match_of",
                    10,
                    "`seen is not None or ...`: match_of is given only rules whose guard held, "
                    "so the prior count is there and at least `count`",
                ),
                (
                    "x_match_of",
                    31,
                    "`seen is not None or ...`: match_of is given only rules whose guard held, "
                    "so the window count is there and at least `count`",
                ),
                *(
                    (
                        "x__later",
                        n,
                        "a late firing comes from a window rule on the event's type, and "
                        "by_type and listed have every type a rule is on: the default is unused",
                    )
                    for n in (4, 6, 9, 11)
                ),
                (
                    "x__own",
                    13,
                    "decisions.get(key): a guarded rule's prior test was always read "
                    "(worth_reading keeps each whose rule can hold), so its key is there",
                ),
                (
                    "x__own",
                    11,
                    "decisions.get(key, None): a guarded rule's prior test was always read "
                    "(worth_reading keeps each whose rule can hold), so its key is there",
                ),
            )
        },
    ),
    "retention": Target(
        "src/blacklist_rules/stores/sqlite/retention.py",
        (
            "tests/test_history_retention.py",
            "tests/test_chain.py",
            "tests/test_mutants_retention.py",
        ),
        equivalent={  # (purge_history #83, #84 are now a HistoryPurge field None: killed)
            f"{_STORE}_reduce_settled__mutmut_{n}": "SQL keywords and names ignore case"
            for n in (16, 17)
        },
        names=(
            *(
                f"{_POLICY}{method}__mutmut_*"
                for method in ("retention", "set_retention", "_purge_cut")
            ),
            *(f"{_STORE}{method}__mutmut_*" for method in ("purge_history", "_reduce_settled")),
        ),
    ),
}
