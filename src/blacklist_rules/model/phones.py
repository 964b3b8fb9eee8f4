"""Phone facts: what kind of line a phone number is, and its country, for rules
(`identity.phone_kind`, `identity.phone_country`) without ever giving them the number.

Line types come from phonenumbers' metadata. Mainland China's mobile virtual network operator
(MVNO, 移动通信转售业务) blocks are not a line type there: phonenumbers calls them mobile. They
come from `CN_VIRTUAL_OPERATOR_BLOCKS` below.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import phonenumbers
from phonenumbers import PhoneNumberType

from .identity import desc_test, never_matches, normalise_phone

PHONE_KINDS: Final = ("mobile", "virtual_operator", "fixed_line", "voip", "toll_free", "other")
"""The values of `identity.phone_kind`."""

COUNTRIES: Final = tuple(sorted(phonenumbers.SUPPORTED_REGIONS))
"""The values of `identity.phone_country`: the regions phonenumbers knows (ISO 3166 alpha-2)."""

CN_VIRTUAL_OPERATOR_BLOCKS: Final = ("165", "167", "170", "171")
"""Mainland China's number blocks (the first digits of the 11-digit national number) of mobile
virtual network operators (MVNOs, 移动通信转售业务), as listed by the public dataset
VincentSit/ChinaMobilePhoneNumberRegex (README, "MVNO" table, commit 030fb8e; MIT licence;
it cites Wikipedia "Telephone numbers in China"), read 2026-12-06:

- 170 on all three networks: 1700-1702 China Telecom's, 1703/1705/1706 China Mobile's,
  1704/1707-1709 China Unicom's (the 4-digit split agrees with phonenumbers' carrier data);
  the block MIIT opened to the first MVNO licences of 26 December 2013 (Baidu Baike "170",
  mirrored at newton.com.tw/wiki/170);
- 171, China Unicom's network (in the dataset since its release of 2016-04-05);
- 165, China Mobile's network (since 2019-01-07); 167, China Unicom's (since 2018-12-29).

Not listed: 162, often named as China Telecom's MVNO block, for which no citable source could
be found (2026-12-06); it classifies as `mobile`. Blocks allocated since must be added here
(and are then tested by tests/test_phone_facts.py)."""

_KINDS: Final = {
    PhoneNumberType.MOBILE: "mobile",
    PhoneNumberType.FIXED_LINE: "fixed_line",
    PhoneNumberType.VOIP: "voip",
    PhoneNumberType.TOLL_FREE: "toll_free",
}
"""phonenumbers' line types as phone kinds; every other type (premium rate, shared cost,
personal, pager, UAN, voicemail, and fixed-line-or-mobile where the plan cannot tell, as in
the US) is `other`."""


def phone_facts(raw: str | None) -> tuple[str, str | None] | None:
    """(kind, ISO 3166 alpha-2 country) of a phone number as sent (read as `normalise_phone`
    reads it: national numbers in China); a number that is not valid is (`other`, None); no
    number, None."""
    if raw is None:
        return None
    return facts_of(normalise_phone(raw))


def facts_of(e164: str | None) -> tuple[str, str | None]:
    """`phone_facts` of a number already in E.164 form (`normalise_phone`'s), None: not
    valid. A Chinese mobile number (`+861` and ten digits, nearly all that come) takes the
    metadata's compiled patterns in phonenumbers' own order (`_cn_type`) instead of its
    parser, validity check and type search, which test the same patterns again: a test
    holds the two ways equal."""
    if e164 is None:
        return "other", None
    if _CN_TYPE is not None and len(e164) == 14 and e164.startswith("+861"):  # (11 digits)
        found = _CN_TYPE(e164[3:])
        if found is None:
            return "other", None
        return _kind(found, "CN", e164[3:]), "CN"
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return "other", None
    if not phonenumbers.is_valid_number(number):
        return "other", None
    country = phonenumbers.region_code_for_number(number)
    return _kind(phonenumbers.number_type(number), country, str(number.national_number)), country


def _kind(found: int, country: str | None, national: str) -> str:
    kind = _KINDS.get(found, "other")
    if country == "CN" and kind == "mobile" and national[:3] in CN_VIRTUAL_OPERATOR_BLOCKS:
        return "virtual_operator"
    return kind


_TYPES_IN_ORDER: Final = (
    ("premium_rate", PhoneNumberType.PREMIUM_RATE),
    ("toll_free", PhoneNumberType.TOLL_FREE),
    ("shared_cost", PhoneNumberType.SHARED_COST),
    ("voip", PhoneNumberType.VOIP),
    ("personal_number", PhoneNumberType.PERSONAL_NUMBER),
    ("pager", PhoneNumberType.PAGER),
    ("uan", PhoneNumberType.UAN),
    ("voicemail", PhoneNumberType.VOICEMAIL),
)
"""The line types phonenumbers' `_number_type_helper` tries before fixed line and mobile,
in its order."""


def _cn_type_test() -> Callable[[str], int | None] | None:
    """phonenumbers' type search for a Chinese national number of 11 digits (`facts_of`
    asks of no other), on the metadata's patterns compiled once: its type, or None where
    phonenumbers finds it not valid (UNKNOWN). None when China is not the only region of +86
    or its metadata lack a description used. A type whose lengths exclude 11 digits is not
    tried (it would not match)."""
    meta = phonenumbers.PhoneMetadata.metadata_for_region("CN")
    if (
        meta is None
        or phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(86) != ("CN",)
        or meta.same_mobile_and_fixed_line_pattern
    ):
        return None
    general, fixed, mobile = (
        desc_test(d, 11) for d in (meta.general_desc, meta.fixed_line, meta.mobile)
    )
    if general is None or fixed is None or mobile is None:
        return None
    before = [
        (test, kind)
        for name, kind in _TYPES_IN_ORDER
        if (test := desc_test(getattr(meta, name), 11)) not in (None, never_matches)
    ]

    def type_of(national: str) -> int | None:
        if not general(national):
            return None
        for test, kind in before:
            if test(national):
                return kind
        if fixed(national):
            return (
                PhoneNumberType.FIXED_LINE_OR_MOBILE
                if mobile(national)
                else PhoneNumberType.FIXED_LINE
            )
        return PhoneNumberType.MOBILE if mobile(national) else None

    return type_of


_CN_TYPE: Final = _cn_type_test()
"""Measured on bench_core --mix registration-heavy --profile (issue 19): `phone_facts` was
15 % of the run (phonenumbers' parser, then two type searches of about 11 patterns each)."""
