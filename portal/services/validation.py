"""Field checks shared by every input path (JSON API, forms, CLI).

Each check returns the clean value or raises ``FieldError``; ``Fields`` collects them so one
response names every bad field at once.
"""
import re
from datetime import date
from decimal import Decimal
from typing import Any, Callable, Mapping

from ..errors import ValidationError

_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_MONTH = re.compile(r"[0-9]{4}-[0-9]{2}")
# Dates and months the portal takes: wide enough for any real subscription or period, narrow
# enough that month arithmetic (the month after, the days in it) never leaves ``date``'s range.
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2999, 12, 31)
# What no text field may hold: PostgreSQL refuses NUL, the driver cannot encode a lone
# surrogate, and other control characters (tab and line breaks aside) are never meant.
_BAD_CHAR = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
_LINE_BREAK = re.compile(r"[\n\r\t]")
# The longest string any input path takes; each field has its own, tighter limit.
MAX_STRING = 10_000
# The widest integer (signed 64-bit) or number any field could mean; beyond it, nothing.
MAX_NUMBER = 2**63 - 1
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


def string_problem(value: str, max_length: int = MAX_STRING, multiline: bool = True) -> str | None:
    """Why ``value`` can be no field's text (None when it can): the one check of characters
    and length that every input path (API, pages, CSV, CLI) runs."""
    bad = _BAD_CHAR.search(value)
    if bad is not None:
        if bad.group() == "\x00":
            return "must not contain NUL characters"
        if "\ud800" <= bad.group() <= "\udfff":
            return "is not valid Unicode text"
        return "must not contain control characters"
    if not multiline and _LINE_BREAK.search(value):
        return "must be a single line"
    if len(value) > max_length:
        return f"must be at most {max_length} characters"
    return None


def number_problem(value: Any) -> str | None:
    """Why a JSON number is beyond anything a field could mean (None when it is not)."""
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
        return None
    if isinstance(value, Decimal) and not value.is_finite():
        return "must be a finite number"
    if abs(value) > MAX_NUMBER:
        return "is out of range"
    return None


def input_errors(value: Any, path: str = "") -> dict[str, str]:
    """Every string (keys too) and number in a parsed JSON body that no field could take,
    by field path (``name``, ``events[0].event_id``, ``projected_usage.llm_tokens``).
    Iterative: a body nested as deep as the parser allows must not exhaust the stack here."""
    if _all_clean(value):  # the common case, without a path built for every value
        return {}
    return _named_errors(value, path)


def _named_errors(value: Any, path: str = "") -> dict[str, str]:
    errors: dict[str, str] = {}
    stack = [(value, path)]
    while stack:
        item, where = stack.pop()
        problem = None
        if isinstance(item, str):
            problem = string_problem(item)
        elif isinstance(item, dict):
            for key, child in reversed(list(item.items())):
                key_problem = string_problem(key, 200) if isinstance(key, str) else None
                if key_problem:
                    errors.setdefault(where or "body", f"a field name {key_problem}")
                else:
                    stack.append((child, f"{where}.{key}" if where else str(key)))
        elif isinstance(item, list):
            stack.extend((child, f"{where}[{i}]") for i, child in reversed(list(enumerate(item))))
        else:
            problem = number_problem(item)
        if problem:
            errors.setdefault(where or "body", problem)
    return errors


def _all_clean(value: Any) -> bool:
    """Whether ``input_errors`` would find nothing in ``value``: the same checks, in a walk
    that keeps no paths and checks a string it has already passed (a usage batch repeats its
    field names, kinds and times a thousand times) only once."""
    clean_keys: set[str] = set()
    clean_text: set[str] = set()
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if item not in clean_text:
                if string_problem(item) is not None:
                    return False
                clean_text.add(item)
        elif isinstance(item, dict):
            for key in item:
                if key not in clean_keys:
                    if isinstance(key, str) and string_problem(key, 200) is not None:
                        return False
                    clean_keys.add(key)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif number_problem(item) is not None:
            return False
    return True


def args_errors(args, names: str = "parameter") -> dict[str, str]:
    """Every bad name or value in a query string or form (a werkzeug MultiDict)."""
    errors: dict[str, str] = {}
    for key, values in args.lists():
        key_problem = string_problem(key, 200)
        if key_problem:
            errors.setdefault("query" if names == "parameter" else "form",
                              f"a {names} name {key_problem}")
            continue
        for value in values:
            problem = string_problem(value)
            if problem:
                errors.setdefault(key, problem)
    return errors


def text(value: Any, max_length: int = 200, multiline: bool = False) -> str:
    if not isinstance(value, str):
        raise FieldError("must be a string")
    value = value.strip()
    if not value:
        raise FieldError("must not be empty")
    problem = string_problem(value, max_length, multiline)
    if problem:
        raise FieldError(problem)
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
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
        raise FieldError("must be a date as YYYY-MM-DD")
    try:
        parsed = date.fromisoformat(value)
    except ValueError:
        raise FieldError("is not a real calendar date") from None
    if not FIRST_DAY <= parsed <= LAST_DAY:
        raise FieldError(f"must be between {FIRST_DAY.isoformat()} and {LAST_DAY.isoformat()}")
    return parsed


def month(value: Any) -> date:
    """``"YYYY-MM"`` → its first day; ASCII digits, a real month, within the portal's years."""
    if not isinstance(value, str) or not _MONTH.fullmatch(value) or not 1 <= int(value[5:]) <= 12:
        raise FieldError("must be a month as YYYY-MM")
    if not FIRST_DAY.year <= int(value[:4]) <= LAST_DAY.year:
        raise FieldError(f"must be a month between {FIRST_DAY:%Y-%m} and {LAST_DAY:%Y-%m}")
    return date(int(value[:4]), int(value[5:]), 1)


JOB_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def job_id(value: Any) -> str | None:
    """A job id as RQ makes them (a UUID), or None: anything else names no job."""
    return value if isinstance(value, str) and JOB_ID.fullmatch(value) else None


def quantity(value: Any) -> Decimal:
    """A non-negative number of base units (JSON number: int or Decimal, never bool)."""
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
        raise FieldError("must be a number")
    value = Decimal(value)
    if not value.is_finite():
        raise FieldError("must be a finite number")
    # Range first: quantizing a huge value to 6 places would overflow the context (a 500).
    if value < 0:
        raise FieldError("must not be negative")
    if value > MAX_QUANTITY:
        raise FieldError(f"must be at most {MAX_QUANTITY:,}")
    if value.as_tuple().exponent < -MAX_DECIMALS and value != value.quantize(QUANTUM):
        # Beyond what is stored; and 1e-999999999 would cost hours of exact arithmetic.
        raise FieldError(f"must have at most {MAX_DECIMALS} decimal places")
    return value


def list_of_codes(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise FieldError("must be a list of codes")
    for code in value:
        problem = string_problem(code, 100, multiline=False)
        if problem:
            raise FieldError(f"a code {problem}")
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
