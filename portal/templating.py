"""Template filters and globals."""
from decimal import Decimal

from .auth import can, current_actor

CURRENCY_SYMBOLS = {"AUD": "$", "USD": "US$", "NZD": "NZ$"}


def money(cents: int, currency: str = "AUD") -> str:
    """5000, "AUD" -> "$50.00 AUD": exact, from integer cents, no float."""
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(cents), 100)
    return f"{sign}{CURRENCY_SYMBOLS.get(currency, '')}{whole:,}.{part:02d} {currency}"


def quantity(value) -> str:
    if isinstance(value, Decimal) and value != value.to_integral_value():
        return f"{value.normalize():,f}"
    return f"{int(value):,}"


def register(app) -> None:
    app.jinja_env.filters["money"] = money
    app.jinja_env.filters["qty"] = quantity
    app.jinja_env.globals["can"] = can
    app.jinja_env.globals["current_actor"] = current_actor
