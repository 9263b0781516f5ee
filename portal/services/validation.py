"""Field checks shared by every input path (JSON API, forms, CLI).

Each check returns the clean value or raises ``FieldError``; ``Fields`` collects them so one
response names every bad field at once.
"""
import re
from datetime import date
from decimal import Decimal
from typing import Any, Callable, Mapping

from ..errors import ValidationError

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# Far beyond any real month of usage, small enough that cents stay exact in BIGINT.
MAX_QUANTITY = Decimal(10) ** 15
MAX_DECIMALS = 6  # usage is stored as NUMERIC(24, 6)
QUANTUM = Decimal(1).scaleb(-MAX_DECIMALS)


class FieldError(ValueError):
    pass


class Fields:
    """Collects per-field errors while reading a mapping; ``done()`` raises them together."""

    def __init__(self, data: Mapping[str, Any], allowed: set[str] | None = None):
        self.data = data
        self.errors: dict[str, str] = {}
        if allowed is not None:
            for name in data:
                if name not in allowed:
                    self.errors[str(name)] = "unknown field"

    def get(self, name: str, check: Callable[[Any], Any], required: bool = True, default=None):
        if name not in self.data or self.data[name] is None:
            if required:
                self.errors[name] = "is required"
            return default
        try:
            return check(self.data[name])
        except FieldError as exc:
            self.errors[name] = str(exc)
            return default

    def add(self, name: str, message: str) -> None:
        self.errors.setdefault(name, message)

    def done(self) -> None:
        if self.errors:
            raise ValidationError(self.errors)


MAX_ID = 2**31 - 1  # the database's integer keys


def record_id(value: Any) -> int:
    """An id in a JSON body: an integer a database key can hold."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise FieldError("must be an integer")
    if not 1 <= value <= MAX_ID:
        raise FieldError(f"must be an integer from 1 to {MAX_ID}")
    return value


def text(value: Any, max_length: int = 200) -> str:
    if not isinstance(value, str):
        raise FieldError("must be a string")
    value = value.strip()
    if not value:
        raise FieldError("must not be empty")
    if len(value) > max_length:
        raise FieldError(f"must be at most {max_length} characters")
    return value


_LOCAL_PART = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_DOMAIN_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


def email_address(value: Any) -> str:
    """An address mail can be sent to: ``local@domain.tld``, plain ASCII (no quoted local
    parts, no IP literals, nothing that could break out of a header). The domain is
    lowercased; reserved domains such as ``.test`` are accepted (no DNS lookup is made)."""
    if not isinstance(value, str):
        raise FieldError("must be a string")
    value = value.strip()
    if not value:
        raise FieldError("must not be empty")
    if len(value) > 254:
        raise FieldError("must be at most 254 characters")
    local, at, domain = value.rpartition("@")
    domain = domain.lower()
    labels = domain.split(".")
    if (not at or len(local) > 64 or not _LOCAL_PART.match(local) or len(labels) < 2
            or not all(_DOMAIN_LABEL.match(label) for label in labels)
            or not re.match(r"^(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})$", labels[-1])):
        raise FieldError("is not an email address (like accounts@example.com)")
    return f"{local}@{domain}"


def iso_date(value: Any) -> date:
    if not isinstance(value, str) or not _ISO_DATE.match(value):
        raise FieldError("must be a date as YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise FieldError("is not a real calendar date") from None


def quantity(value: Any) -> Decimal:
    """A non-negative number of base units (JSON number: int or Decimal, never bool)."""
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
        raise FieldError("must be a number")
    value = Decimal(value)
    if not value.is_finite():
        raise FieldError("must be a finite number")
    if value.as_tuple().exponent < -MAX_DECIMALS and value != value.quantize(QUANTUM):
        # Beyond what is stored; and 1e-999999999 would cost hours of exact arithmetic.
        raise FieldError(f"must have at most {MAX_DECIMALS} decimal places")
    if value < 0:
        raise FieldError("must not be negative")
    if value > MAX_QUANTITY:
        raise FieldError(f"must be at most {MAX_QUANTITY:,}")
    return value


def list_of_codes(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise FieldError("must be a list of codes")
    if len(set(value)) != len(value):
        raise FieldError("lists a code more than once")
    return value


def usage_map(value: Any, kinds) -> dict[str, Decimal]:
    """``{resource_kind: quantity}``; one error names the first bad entry."""
    if not isinstance(value, dict):
        raise FieldError("must be an object of resource kind to quantity")
    usage = {}
    for kind, qty in value.items():
        if kind not in kinds:
            raise FieldError(f"unknown resource kind {kind!r} (known: {', '.join(kinds)})")
        try:
            usage[kind] = quantity(qty)
        except FieldError as exc:
            raise FieldError(f"{kind} {exc}") from None
    return usage
