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

CN_VIRTUAL_OPERATOR_BLOCKS: Final = ("162", "165", "167", "170", "171")
"""Mainland China's number blocks (the first digits of the 11-digit national number) allocated
by the Ministry of Industry and Information Technology (MIIT, 工业和信息化部) to mobile virtual
network operators (移动通信转售业务): 170 (allocated December 2013; 1700-1702 on China Telecom's
network, 1703/1705/1706 on China Mobile's, 1704/1707-1709 on China Unicom's), 171 (January 2016,
China Unicom's network), 162, 165 and 167 (February 2017: Telecom's, Mobile's and Unicom's
networks). Source: MIIT's number allocations as summarised in the national numbering plan
(《电信网码号资源管理办法》 allocations; Wikipedia "Telephone numbers in China", mobile
section), table written 2026-12-06 from that summary and not re-checked against the MIIT
notices themselves. Blocks allocated since then must be added here (and to the test)."""

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
