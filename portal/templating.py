"""Template filters and globals."""
from datetime import timedelta, timezone
from decimal import Decimal

from .auth import current_actor
from .billing.labels import kind_label, line_kind_label, per_unit, unit_label
from .billing.money import CURRENCY_SYMBOLS, format_cents
from .permissions import can
from .services.paging import next_path

def money(cents: int, currency: str = "AUD") -> str:
    """5000, "AUD" -> "$50.00 AUD": exact, from integer cents, no float. A symbol that already
    names its currency ("US$", "NZ$") is not followed by the code again: "US$45.46"."""
    symbol = CURRENCY_SYMBOLS.get(currency, "")
    if symbol and symbol not in ("$", "¤"):
        return format_cents(cents, symbol)
    return f"{format_cents(cents, symbol)} {currency}"


def quantity(value) -> str:
    if isinstance(value, Decimal) and value != value.to_integral_value():
        return f"{value.normalize():,f}"
    return f"{int(value):,}"


def utc(moment) -> str:
    """A stored timestamp as UTC ("2026-05-20 09:00 UTC"); naive ones (SQLite) are UTC."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def period(start, end_exclusive) -> str:
    """A billing period as the days it covers: "1 October 2026 – 31 October 2026"."""
    last = end_exclusive - timedelta(days=1)
    return f"{start.day} {start:%B %Y} – {last.day} {last:%B %Y}"


def register(app) -> None:
    app.jinja_env.filters["money"] = money
    app.jinja_env.filters["cents"] = format_cents
    app.jinja_env.filters["qty"] = quantity
    app.jinja_env.filters["utc"] = utc
    app.jinja_env.globals["period"] = period
    app.jinja_env.filters["combine_page"] = lambda args, page: {**args, "page": page}
    app.jinja_env.filters["kind_label"] = kind_label
    app.jinja_env.filters["unit_label"] = unit_label
    app.jinja_env.filters["per_unit"] = per_unit
    app.jinja_env.filters["line_kind_label"] = line_kind_label
    app.jinja_env.globals["can"] = can
    app.jinja_env.globals["list_url"] = next_path
    app.jinja_env.globals["current_actor"] = current_actor
    app.jinja_env.globals["stalled_jobs"] = stalled_jobs


def stalled_jobs() -> int:
    """For the admins' banner: jobs waiting on our queues while no worker is alive (0 when
    none wait, a worker is alive, Redis is not configured or is unreachable). At most two
    Redis round trips per page, and none without REDIS_URL."""
    from flask import current_app

    from . import queue

    conn = queue.connection()
    if conn is None:
        return 0
    prefix = queue.queue_prefix()
    try:
        waiting = queue.waiting_jobs(conn, prefix)
        if not waiting or queue.workers_alive(conn, prefix):
            return 0
        return waiting
    except Exception:  # a page never fails over a banner; health and the API say Redis is down
        current_app.logger.warning("could not check the job queue for the banner", exc_info=True)
        return 0
