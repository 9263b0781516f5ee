"""The billing email check (pure): plain addresses mail can be sent to, nothing that could
break out of a header; and REMINDER_DAYS parsing."""
from email.headerregistry import Address
from email.message import EmailMessage

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portal.config import reminder_days
from portal.services.validation import FieldError, email_address


@pytest.mark.parametrize("value, clean", [
    ("accounts@example.com", "accounts@example.com"),
    ("  Accounts.Payable@Example.COM ", "Accounts.Payable@example.com"),
    ("a+billing@sub.example.com.au", "a+billing@sub.example.com.au"),
    ("o'brien@example.com", "o'brien@example.com"),
    ("x@xn--80ak6aa92e.com", "x@xn--80ak6aa92e.com"),
    ("billing@acme.test", "billing@acme.test"),  # reserved, but well formed: no DNS lookup
])
def test_good_addresses(value, clean):
    assert email_address(value) == clean


@pytest.mark.parametrize("value", [
    "", "   ", "accounts", "@example.com", "a@", "a@b", "a@example", "a@example.c",
    "a b@example.com", "a@exa mple.com", "a@@example.com", "a@b@example.com",
    ".a@example.com", "a.@example.com", "a..b@example.com", "a@-example.com",
    "a@example-.com", "a@example..com", "a@example.com.", "a@example.123",
    '"quoted"@example.com', "a@[127.0.0.1]", "ü@example.com", "a@exämple.com",
    "a@example.com\nBcc: victim@example.com", "a@example.com\r\nX: y", "a,b@example.com",
    "Name <a@example.com>", "x" * 65 + "@example.com", "a@" + "b" * 64 + ".com",
    "a@" + ".".join(["b" * 60] * 5) + ".com",
])
def test_bad_addresses(value):
    with pytest.raises(FieldError):
        email_address(value)


def test_only_strings():
    for value in (None, 5, ["a@example.com"], {"a": 1}):
        with pytest.raises(FieldError, match="must be a string"):
            email_address(value)


def _round_trips(clean: str) -> None:
    assert not any(ch.isspace() for ch in clean) and clean.isascii() and len(clean) <= 254
    message = EmailMessage()
    message["To"] = clean
    [address] = message["To"].addresses
    assert isinstance(address, Address) and address.addr_spec == clean


@settings(deadline=None, max_examples=300)
@given(st.emails())
def test_generated_addresses_are_accepted_or_refused_cleanly(value):
    try:
        clean = email_address(value)
    except FieldError:
        return
    _round_trips(clean)


@settings(deadline=None, max_examples=300)
@given(st.text(alphabet=st.sampled_from("ab.@-+_ \n\r\"<>,xY1é"), max_size=40))
def test_anything_accepted_fits_a_header(value):
    try:
        clean = email_address(value)
    except FieldError:
        return
    _round_trips(clean)


def test_reminder_days():
    assert reminder_days("1,7,14") == (1, 7, 14)
    assert reminder_days(" 14, 1 ,7,7 ") == (1, 7, 14)
    assert reminder_days("") == ()
    for bad in ("0", "-1", "a", "1.5", "1,,x", "9999"):
        with pytest.raises(ValueError, match="REMINDER_DAYS"):
            reminder_days(bad)
