"""The one place that reads the time, in UTC (tests freeze it with freezegun)."""
from datetime import date, datetime, timezone


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def today() -> date:
    return utcnow().date()
