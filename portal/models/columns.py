"""Column helpers shared by the models."""
from sqlalchemy import BigInteger, DateTime
from sqlalchemy.dialects.postgresql import base as postgresql_base
from sqlalchemy.types import TypeDecorator, UserDefinedType
from sqlalchemy.orm import mapped_column

from ..clock import utcnow


def timestamp_now():
    return mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)


def in_list(column: str, values) -> str:
    """SQL for a CHECK that ``column`` is one of ``values`` (fixed code lists only)."""
    return f"{column} IN ({', '.join(repr(v) for v in values)})"



class TransactionId(TypeDecorator):
    """PostgreSQL's ``xid8`` (a 64-bit transaction id, ``pg_current_xact_id()``), read as an
    int; a plain BIGINT elsewhere (SQLite has no transaction ids: the column stays NULL)."""

    impl = BigInteger
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name == "postgresql":
            return dialect.type_descriptor(XID8())
        return dialect.type_descriptor(BigInteger())

    def process_result_value(self, value, dialect):
        return None if value is None else int(value)


class XID8(UserDefinedType):
    cache_ok = True

    def get_col_spec(self, **kw):
        return "xid8"


# Reflection (alembic's comparison of the models with the database) knows the type by name.
postgresql_base.ischema_names.setdefault("xid8", XID8)
