"""What counts as PII in one value, and which column names hint at PII.

Each detector takes one stripped text value and answers True or False. They are strict on
purpose: a column is PII for a kind only when a share of its samples match (see
`headwater.governance.pii`), so a detector that also matched plain integers, dates or
version strings would flag id columns. What each accepts:

* email: `local@domain.tld` (no spaces, a dot in the domain, a 2+ letter TLD).
* phone: international `+CC ...` or `00CC ...` with 8 to 15 digits (E.164's maximum);
  North American `(555) 123-4567`, `555-123-4567`, `555.123.4567` (separators required);
  national trunk-prefix numbers `020 7946 0958`, `06 12 34 56 78`, `0612345678` (a leading
  0 then a non-zero digit, 9 to 11 digits). A plain number without `+`, `00` or a leading
  `0` is never a phone (ids, amounts), nor is an ISO date.
* card_number: 13 to 19 digits (spaces or dashes allowed), an issuer prefix 2-6 (Visa,
  Mastercard, Amex, Discover, JCB, Diners, UnionPay) and a valid Luhn check digit.
* iban: ISO 13616: country code, 2 check digits, the country's length (table below) and
  the mod-97 checksum equal to 1; spaces allowed.
* ip_address: IPv4 dotted quad or IPv6 (Python's `ipaddress`: no leading zeros, octets
  <= 255), so `1.2.3` and `10.0.19041.1` (versions) do not match.
* us_ssn: `AAA-GG-SSSS` (dashes or spaces required: a bare 9-digit number is an id), area
  not 000, 666 or 900-999, group not 00, serial not 0000.
* uk_nino: UK National Insurance number `AB 12 34 56 C`: the letters HMRC allocates (no
  D, F, I, Q, U, V; no O second; not BG, GB, KN, NK, NT, TN, ZZ), suffix A-D.
* es_dni: Spanish DNI `12345678Z` or NIE `X1234567L`, the letter checked (number mod 23).
* pt_nif: Portuguese NIF, 9 digits (optional `PT` prefix), a first digit that is
  allocated (1, 2, 3, 5, 6, 8, 9) and the mod-11 check digit. A plain 9-digit id passes by
  chance about once in eleven, well under the default `pii_min_share` of 0.2.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable

PiiKind = str
"""A PII kind: a detector's name (email, phone, ...) or a name-hint kind (name, address,
birth_date, national_id)."""

_EMAIL = re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}")
_PHONE_CHARS = re.compile(r"\+?[0-9 ().-]+")
_NANP = re.compile(r"(?:1[ .-]?)?(?:\([2-9]\d{2}\)|[2-9]\d{2})[ .-]?\d{3}[ .-]?\d{4}")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_CARD = re.compile(r"\d(?:[ -]?\d){12,18}")
_IBAN = re.compile(r"[A-Z]{2}\d{2}[A-Z0-9]{11,30}")
_SSN = re.compile(r"(\d{3})[- ](\d{2})[- ](\d{4})")
_NINO = re.compile(r"([A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]) ?(\d{2}) ?(\d{2}) ?(\d{2}) ?([A-D])")
_NINO_NOT_ALLOCATED = frozenset({"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"})
_DNI = re.compile(r"([XYZ]?)(\d{7,8})-?([A-Z])")
_DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"
_NIF = re.compile(r"(?:PT)?(\d{3}) ?(\d{3}) ?(\d{3})")

IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22,
    "BH": 22, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22,
    "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27,
    "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28,
    "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20,
    "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MD": 24,
    "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24,
    "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24, "SC": 31,
    "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28, "TL": 23, "TN": 24,
    "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip
"""IBAN length per country (SWIFT's IBAN registry)."""


def luhn_valid(digits: str) -> bool:
    """Whether the digit string passes the Luhn (mod 10) check."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def iban_valid(text: str) -> bool:
    """Whether `text` (spaces allowed) is an IBAN with its country's length and checksum."""
    compact = text.replace(" ", "").upper()
    if not _IBAN.fullmatch(compact) or IBAN_LENGTHS.get(compact[:2]) != len(compact):
        return False
    moved = compact[4:] + compact[:4]
    number = "".join(str(int(char, 36)) for char in moved)  # A=10 ... Z=35
    return int(number) % 97 == 1


def is_email(value: str) -> bool:
    """An email address."""
    return len(value) <= 254 and _EMAIL.fullmatch(value) is not None and ".." not in value


def is_phone(value: str) -> bool:
    """A phone number in international or a common national format (see module doc)."""
    if not _PHONE_CHARS.fullmatch(value) or _ISO_DATE.fullmatch(value):
        return False
    digits = re.sub(r"\D", "", value)
    if value.startswith("+"):
        return 8 <= len(digits) <= 15 and digits[0] != "0"
    if value.startswith("00"):
        return 8 <= len(digits) - 2 <= 15 and digits[2] != "0"
    if value.startswith("0"):
        return 9 <= len(digits) <= 11 and digits[1] != "0"
    separated = any(char in value for char in " ().-")
    return separated and _NANP.fullmatch(value) is not None


def is_card_number(value: str) -> bool:
    """A payment card number: 13-19 digits, an issuer prefix and a valid Luhn digit."""
    if not _CARD.fullmatch(value):
        return False
    digits = re.sub(r"\D", "", value)
    if digits[0] not in "23456" or len(set(digits)) == 1:
        return False
    return luhn_valid(digits)


def is_iban(value: str) -> bool:
    """An IBAN (country length and mod-97 checksum)."""
    return iban_valid(value)


def is_ip_address(value: str) -> bool:
    """An IPv4 or IPv6 address."""
    if not (":" in value or value.count(".") == 3):
        return False
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def is_us_ssn(value: str) -> bool:
    """A US Social Security number, written with separators, outside the invalid ranges."""
    match = _SSN.fullmatch(value)
    if match is None:
        return False
    area, group, serial = match.groups()
    if area in {"000", "666"} or area.startswith("9"):
        return False
    return group != "00" and serial != "0000"


def is_uk_nino(value: str) -> bool:
    """A UK National Insurance number with an allocatable prefix."""
    match = _NINO.fullmatch(value.upper())
    return match is not None and match.group(1) not in _NINO_NOT_ALLOCATED


def is_es_dni(value: str) -> bool:
    """A Spanish DNI (8 digits + letter) or NIE (X/Y/Z + 7 digits + letter), letter checked."""
    match = _DNI.fullmatch(value.upper())
    if match is None:
        return False
    prefix, number, letter = match.groups()
    if prefix:
        if len(number) != 7:
            return False
        number = str("XYZ".index(prefix)) + number
    elif len(number) != 8:
        return False
    return _DNI_LETTERS[int(number) % 23] == letter


def is_pt_nif(value: str) -> bool:
    """A Portuguese NIF: 9 digits, an allocated first digit, the mod-11 check digit."""
    match = _NIF.fullmatch(value.upper())
    if match is None:
        return False
    digits = "".join(match.groups())
    if digits[0] not in "1235689":
        return False
    remainder = sum(int(d) * (9 - i) for i, d in enumerate(digits[:8])) % 11
    check = 0 if remainder < 2 else 11 - remainder
    return int(digits[8]) == check


DETECTORS: dict[PiiKind, Callable[[str], bool]] = {
    "email": is_email,
    "phone": is_phone,
    "card_number": is_card_number,
    "iban": is_iban,
    "ip_address": is_ip_address,
    "us_ssn": is_us_ssn,
    "uk_nino": is_uk_nino,
    "es_dni": is_es_dni,
    "pt_nif": is_pt_nif,
}
"""Value detectors by kind, in the order findings list them."""


def detect(value: str) -> list[PiiKind]:
    """Every kind whose detector accepts the (stripped) `value`."""
    return [kind for kind, check in DETECTORS.items() if check(value)]


# Name hints: whole names (after normalising) and token rules. Matched on the column name
# split into lower-case words: `customerEmail`, `customer_email`, `Customer Email` alike.
_EXACT_HINTS: dict[str, PiiKind] = {
    "name": "name", "firstname": "name", "lastname": "name", "fullname": "name",
    "surname": "name", "givenname": "name", "familyname": "name", "middlename": "name",
    "maidenname": "name", "forename": "name",
    "dob": "birth_date", "birthdate": "birth_date", "dateofbirth": "birth_date",
    "birthday": "birth_date", "birthdt": "birth_date", "bornon": "birth_date",
    "ssn": "us_ssn", "socialsecuritynumber": "us_ssn", "socialsecurity": "us_ssn",
    "nino": "uk_nino", "ninumber": "uk_nino", "nationalinsurancenumber": "uk_nino",
    "dni": "es_dni", "nie": "es_dni", "nif": "pt_nif",
    "nationalid": "national_id", "passport": "national_id", "passportnumber": "national_id",
    "taxid": "national_id", "idcardnumber": "national_id",
    "iban": "iban", "cardnumber": "card_number", "creditcard": "card_number",
    "creditcardnumber": "card_number", "ccnumber": "card_number",
    "ip": "ip_address", "ipaddress": "ip_address", "ipaddr": "ip_address",
    "clientip": "ip_address", "remoteaddr": "ip_address",
}  # fmt: skip
_TOKEN_HINTS: dict[str, PiiKind] = {
    "email": "email", "mail": "email",
    "phone": "phone", "telephone": "phone", "mobile": "phone", "msisdn": "phone",
    "cellphone": "phone", "fax": "phone",
    "address": "address", "street": "address", "addr": "address", "postcode": "address",
    "zipcode": "address", "zip": "address",
    "ssn": "us_ssn", "dob": "birth_date", "birthdate": "birth_date",
    "birthday": "birth_date", "iban": "iban",
}  # fmt: skip
_PERSON_WORDS = frozenset(
    {"first", "last", "full", "given", "family", "middle", "maiden", "sur", "fore",
     "customer", "contact", "person", "client", "employee", "patient", "owner", "display"}
)  # fmt: skip
"""Words before `name` that make it a person's name (`product_name` is not one)."""
_NOT_ADDRESS = frozenset({"ip", "mac", "email", "mail", "web", "url", "wallet", "memory"})


def column_words(column: str) -> list[str]:
    """`customerEmail_2` -> [customer, email, 2]."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", column)
    return [word for word in re.split(r"[^A-Za-z0-9]+", spaced.lower()) if word]


def name_hint(column: str) -> PiiKind | None:
    """The PII kind a column's name suggests (`email`, `first_name`, `dob`, `street`...),
    or None."""
    words = column_words(column)
    if not words:
        return None
    joined = "".join(words)
    if joined in _EXACT_HINTS:
        return _EXACT_HINTS[joined]
    if "birth" in words and ("date" in words or "day" in words or "dt" in words):
        return "birth_date"
    if "ip" in words and ("address" in words or "addr" in words):
        return "ip_address"
    for word in words:
        kind = _TOKEN_HINTS.get(word)
        if kind == "address" and _NOT_ADDRESS.intersection(words):
            continue
        if kind is not None:
            return kind
    if words[-1] == "name" and len(words) >= 2 and words[-2] in _PERSON_WORDS:
        return "name"
    return None


def mask(value: str) -> str:
    """A masked example that shows the shape, never the value: `j***@e***.com`,
    `+***78`, `D***`."""
    if "@" in value:
        local, _, domain = value.partition("@")
        head, dot, tld = domain.rpartition(".")
        return f"{local[:1]}***@{head[:1]}***{dot}{tld}" if dot else f"{local[:1]}***@***"
    if len(value) >= 8:
        return f"{value[:1]}***{value[-2:]}"
    return f"{value[:1]}***"
