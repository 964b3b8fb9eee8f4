"""Phone facts: what kind of line a phone number is, and its country, for rules
(`identity.phone_kind`, `identity.phone_country`) without ever giving them the number.

Line types come from phonenumbers' metadata. Mainland China's mobile virtual network operator
(MVNO, 移动通信转售业务) blocks are not a line type there: phonenumbers calls them mobile. They
come from `CN_VIRTUAL_OPERATOR_BLOCKS` below.
"""

from __future__ import annotations

from typing import Final

import phonenumbers
from phonenumbers import PhoneNumberType

from .identity import normalise_phone

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
    e164 = normalise_phone(raw)
    if e164 is None:
        return "other", None
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return "other", None
    if not phonenumbers.is_valid_number(number):
        return "other", None
    country = phonenumbers.region_code_for_number(number)
    kind = _KINDS.get(phonenumbers.number_type(number), "other")
    national = str(number.national_number)
    if country == "CN" and kind == "mobile" and national[:3] in CN_VIRTUAL_OPERATOR_BLOCKS:
        kind = "virtual_operator"
    return kind, country
