"""PII detectors and name hints: real positives and the near misses they must refuse."""

from __future__ import annotations

import pytest

from headwater.governance.pii_detectors import (
    detect,
    iban_valid,
    luhn_valid,
    mask,
    name_hint,
)

POSITIVES = [
    ("ann.lee+news@example.co.uk", "email"),
    ("+351 912 345 678", "phone"),
    ("+1 (415) 555-0132", "phone"),
    ("0044 20 7946 0958", "phone"),
    ("(415) 555-0132", "phone"),
    ("415.555.0132", "phone"),
    ("020 7946 0958", "phone"),
    ("06 12 34 56 78", "phone"),
    ("4111 1111 1111 1111", "card_number"),
    ("5500-0000-0000-0004", "card_number"),
    ("378282246310005", "card_number"),
    ("GB82 WEST 1234 5698 7654 32", "iban"),
    ("DE89370400440532013000", "iban"),
    ("PT50000201231234567890154", "iban"),
    ("192.168.1.10", "ip_address"),
    ("2001:db8::8a2e:370:7334", "ip_address"),
    ("123-45-6789", "us_ssn"),
    ("AB 12 34 56 C", "uk_nino"),
    ("JG123456C", "uk_nino"),
    ("12345678Z", "es_dni"),
    ("X1234567L", "es_dni"),
    ("501964843", "pt_nif"),
    ("PT501964843", "pt_nif"),
]


@pytest.mark.parametrize(("value", "kind"), POSITIVES)
def test_real_values_are_detected(value: str, kind: str) -> None:
    assert kind in detect(value)


NEAR_MISSES = [
    ("ann.lee@localhost", "email"),  # no TLD
    ("ann lee@example.com", "email"),
    ("4111 1111 1111 1112", "card_number"),  # Luhn fails
    ("1111111111111117", "card_number"),  # passes Luhn, no issuer starts with 1
    ("0000000000000000", "card_number"),
    ("GB82 WEST 1234 5698 7654 33", "iban"),  # checksum off by one
    ("DE89370400440532013", "iban"),  # too short for DE
    ("XX89370400440532013000", "iban"),  # no such country
    ("1.2.3", "ip_address"),  # version strings
    ("10.0.19041.1", "ip_address"),
    ("256.1.1.1", "ip_address"),
    ("192.168.01.10", "ip_address"),  # leading zero
    ("666-12-3456", "us_ssn"),  # area 666 is never issued
    ("000-12-3456", "us_ssn"),
    ("912-34-5678", "us_ssn"),  # 900-999
    ("123-00-6789", "us_ssn"),
    ("123-45-0000", "us_ssn"),
    ("123456789", "us_ssn"),  # a bare 9-digit number is an id
    ("QQ 12 34 56 C", "uk_nino"),  # Q is never a first letter
    ("GB 12 34 56 C", "uk_nino"),  # not allocated
    ("AB 12 34 56 E", "uk_nino"),  # suffix A-D only
    ("12345678A", "es_dni"),  # wrong letter
    ("501964844", "pt_nif"),  # wrong check digit
    ("401964843", "pt_nif"),  # 4 is not an allocated first digit
]


@pytest.mark.parametrize(("value", "kind"), NEAR_MISSES)
def test_near_misses_are_refused(value: str, kind: str) -> None:
    assert kind not in detect(value)


@pytest.mark.parametrize(
    "value",
    ["42", "1234567", "4155550132", "20240115", "2024-01-15", "3.14", "-17", "1e6", "v1.2.3",
     "987654321012"],
)  # fmt: skip
def test_plain_numbers_dates_and_versions_are_not_phones(value: str) -> None:
    assert "phone" not in detect(value)


def test_integer_ids_stay_under_the_default_share() -> None:
    """Sequential ids match checksum formats only by chance (about 1 in 10 or 11)."""
    for start in (1, 100_000_000, 4_000_000_000_000_000):
        values = [str(i) for i in range(start, start + 1000)]
        for kind in ("card_number", "pt_nif", "phone", "us_ssn", "es_dni"):
            share = sum(kind in detect(v) for v in values) / len(values)
            assert share < 0.2, (start, kind, share)


def test_checksums() -> None:
    assert luhn_valid("79927398713") and not luhn_valid("79927398710")
    assert iban_valid("gb82 west 1234 5698 7654 32")  # lower case and spaces are fine
    assert not iban_valid("GB82WEST1234569876543")


@pytest.mark.parametrize(
    ("column", "kind"),
    [("email", "email"), ("customerEmail", "email"), ("email_address", "email"),
     ("first_name", "name"), ("LastName", "name"), ("name", "name"),
     ("customer_name", "name"), ("surname", "name"), ("dob", "birth_date"),
     ("date_of_birth", "birth_date"), ("birth_date", "birth_date"),
     ("street", "address"), ("home_address", "address"), ("address_line1", "address"),
     ("phone_number", "phone"), ("mobile", "phone"), ("ssn", "us_ssn"),
     ("ip_address", "ip_address"), ("iban", "iban"), ("passport_number", "national_id"),
     ("product_name", None), ("company_name", None), ("file_name", None),
     ("order_id", None), ("amount", None), ("mac_address", None), ("status", None)],
)  # fmt: skip
def test_name_hints(column: str, kind: str | None) -> None:
    assert name_hint(column) == kind


def test_masks_never_show_the_value() -> None:
    assert mask("john.doe@example.com") == "j***@e***.com"
    assert mask("+351 912 345 678") == "+***78"
    assert mask("Ann") == "A***"
    for value in ("john.doe@example.com", "4111 1111 1111 1111", "123-45-6789"):
        assert value not in mask(value) and len(mask(value)) < len(value)
