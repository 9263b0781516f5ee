"""Column helpers shared by the models."""
from sqlalchemy import DateTime
from sqlalchemy.orm import mapped_column

from ..clock import utcnow


def timestamp_now():
    return mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)


def in_list(column: str, values) -> str:
    """SQL for a CHECK that ``column`` is one of ``values`` (fixed code lists only)."""
    return f"{column} IN ({', '.join(repr(v) for v in values)})"

