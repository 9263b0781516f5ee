"""JSON in and out without floats on the money path.

Incoming numbers with a fraction become ``Decimal`` (never float); NaN and Infinity are
refused. Outgoing ``Decimal`` quantities become plain JSON numbers.
"""
import json
from decimal import Decimal

from flask.json.provider import DefaultJSONProvider


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a number")


def loads_strict(text):
    return json.loads(text, parse_float=Decimal, parse_constant=_refuse_constant)


def number(value: Decimal | int):
    """A quantity (never money: money is integer cents) as a JSON number.

    Whole quantities are ints; a fractional one (half a GB) is written as the nearest
    double, which is what a JSON number is to most readers anyway.
    """
    if isinstance(value, int):
        return value
    if value == value.to_integral_value():
        return int(value)
    return float(value)


class PortalJSONProvider(DefaultJSONProvider):
    sort_keys = False

    def loads(self, s, **kwargs):
        return loads_strict(s)

    @staticmethod
    def default(o):
        if isinstance(o, Decimal):
            return number(o)
        return DefaultJSONProvider.default(o)
