"""Proration of monthly charges to the days actually billed."""
import calendar
from datetime import date, timedelta
from fractions import Fraction


def days_in_month(day: date) -> int:
    return calendar.monthrange(day.year, day.month)[1]


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_month_start(day: date) -> date:
    return month_start(day) + timedelta(days=days_in_month(day))


def previous_month_start(day: date) -> date:
    """The first day of the month before ``day``'s."""
    return month_start(month_start(day) - timedelta(days=1))


def fraction_from_start(starts_on: date) -> Fraction:
    """Share of the start month billed: days remaining including the start day / days in it.

    Starting 2026-05-20 gives 12/31; starting on the 1st gives exactly 1.
    """
    total = days_in_month(starts_on)
    return Fraction(total - starts_on.day + 1, total)


def bills_in_period(period_start: date, period_end: date, starts_on: date,
                    last_day: date | None) -> bool:
    """Whether a subscription (last billed day inclusive, None while it runs) bills any day
    of [period_start, period_end)."""
    return starts_on < period_end and (last_day is None or last_day >= period_start)


def active_fraction(
    period_start: date, period_end: date, starts_on: date, last_day: date | None
) -> Fraction:
    """Share of a calendar-month period [period_start, period_end) that a subscription bills.

    ``last_day`` is the subscription's last billed day (inclusive), or None while it runs.
    Zero when the subscription bills no day of the period.
    """
    first = max(period_start, starts_on)
    end = period_end if last_day is None else min(period_end, last_day + timedelta(days=1))
    days = (end - first).days
    if days <= 0:
        return Fraction(0)
    return Fraction(days, (period_end - period_start).days)
