"""The one place that reads the time, in UTC (tests freeze it with freezegun)."""
from datetime import date, datetime, timezone


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def as_utc(moment: datetime) -> datetime:
    """A stored timestamp, aware: SQLite hands back naive ones, and they are UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def today() -> date:
    return utcnow().date()


def last_month() -> str:
    """The month before this one (UTC), as "YYYY-MM": the default period of the pages."""
    from .billing.proration import previous_month_start

    return previous_month_start(today()).strftime("%Y-%m")
