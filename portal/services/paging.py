"""Pages of a query. Every list of the API answers ``{"<plural>": [...], "next": path | null}``,
``next`` being the path and query of the next page (same host, the caller's filters and
``per_page`` kept), built by :func:`next_path` and nowhere else.

Two ways to page:

* by number (``?page=``, offset): small lists that cannot grow large (tokens, users, ...);
* by cursor (``?cursor=``, keyset): lists that grow without bound (invoices, credit notes).
  A cursor names the sort key of the last row seen; the next page is the rows strictly after
  it in the list's order, read from an index, so a deep page costs what the first does.
  ``?page=`` still works there for old callers (offset, as before) and its ``next`` is a
  cursor; ``page`` and ``cursor`` together are a 422.
"""
import re
from dataclasses import dataclass
from datetime import date

from flask import request, url_for
from sqlalchemy import Select, tuple_

from ..errors import ValidationError
from ..extensions import db

PER_PAGE = 50
MAX_PER_PAGE = 500
MAX_PAGE = 1_000_000
MAX_KEY = 2**31 - 1  # the database's integer keys


def parse_page(args) -> tuple[int, int]:
    """``?page=`` (from 1) and ``?per_page=`` (1..500) from request args."""
    errors, values = {}, {}
    for name, default, high in (("page", 1, MAX_PAGE), ("per_page", PER_PAGE, MAX_PER_PAGE)):
        raw = args.get(name, str(default))
        if not re.fullmatch(r"[0-9]{1,7}", raw) or not 1 <= int(raw) <= high:
            errors[name] = f"must be a positive integer up to {high}"
        else:
            values[name] = int(raw)
    if errors:
        raise ValidationError(errors)
    return values["page"], values["per_page"]


def page_of(query: Select, page: int = 1, per_page: int = PER_PAGE):
    """The rows of ``page`` and the next page's number, or None when this is the last."""
    rows = list(db.session.scalars(query.limit(per_page + 1).offset((page - 1) * per_page)))
    return rows[:per_page], (page + 1 if len(rows) > per_page else None)


def next_path(endpoint: str, **changes) -> str:
    """The path and query of this request's list at another page: the caller's query string
    (filters, ``per_page``) and the route's own arguments kept, ``changes`` applied (a None
    drops that key). Relative, so it stays on the host the caller used."""
    args = {k: v for k, v in request.args.items() if not k.startswith("_")}  # url_for's own
    args.update(changes)
    args = {k: v for k, v in args.items() if v is not None}
    return url_for(endpoint, **(request.view_args or {}), **args)


def next_page_path(endpoint: str, next_page: int | None) -> str | None:
    """``next`` of a list paged by number."""
    return next_path(endpoint, page=next_page) if next_page else None


# --- keyset (cursor) paging -----------------------------------------------------------------

OLDER, NEWER = "o", "n"
MAX_CURSOR = 64


@dataclass(frozen=True)
class Keyset:
    """A list's order: its columns, each descending (newest first), the last one unique."""
    columns: tuple  # of (column, type), type date or int

    def key(self, row) -> tuple:
        return tuple(getattr(row, column.key) for column, _ in self.columns)


@dataclass
class Cursor:
    direction: str  # OLDER: rows after the key in the list's order; NEWER: rows before it
    key: tuple


def cursor_text(direction: str, key: tuple) -> str:
    """Opaque to callers; readable to us: ``o.2026-04-01.1234``."""
    return ".".join([direction, *(v.isoformat() if isinstance(v, date) else str(v) for v in key)])


def parse_cursor(raw: str, keyset: Keyset) -> Cursor:
    """A cursor this list made, or a 422: never a query with a value the database refuses."""
    problem = {"cursor": "is not a cursor of this list: follow `next` (or Older/Newer) as given"}
    parts = raw.split(".") if len(raw) <= MAX_CURSOR else []
    if len(parts) != len(keyset.columns) + 1 or parts[0] not in (OLDER, NEWER):
        raise ValidationError(problem)
    key = []
    for text, (_, kind) in zip(parts[1:], keyset.columns):
        try:
            if kind is date:
                if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
                    raise ValueError(text)
                key.append(date.fromisoformat(text))
            else:
                if not re.fullmatch(r"[0-9]{1,10}", text) or int(text) > MAX_KEY:
                    raise ValueError(text)
                key.append(int(text))
        except ValueError:
            raise ValidationError(problem) from None
    return Cursor(parts[0], tuple(key))


@dataclass
class KeysetPage:
    rows: list
    older: str | None  # the cursor of the next (older) page, or None on the last
    newer: str | None  # the cursor of the previous (newer) page, or None on the first

    def __iter__(self):
        """``rows, next_cursor = ...`` as callers of the page-number lists unpack them."""
        return iter((self.rows, self.older))


def parse_keyset_args(args, keyset: Keyset) -> tuple[Cursor | None, int | None, int]:
    """``cursor``, or the old ``page``, and ``per_page`` from request args."""
    raw_cursor = args.get("cursor")
    if raw_cursor is not None and "page" in args:
        raise ValidationError({"cursor": "cannot be combined with page: follow `next` as given"})
    page, per_page = parse_page(args)
    if raw_cursor is None:
        return None, (page if "page" in args else None), per_page
    return parse_cursor(raw_cursor, keyset), None, per_page


def keyset_page(query: Select, keyset: Keyset, cursor: Cursor | None = None,
                page: int | None = None, per_page: int = PER_PAGE) -> KeysetPage:
    """One page of ``query`` in ``keyset``'s order (its own order_by is replaced)."""
    columns = [column for column, _ in keyset.columns]
    query = query.order_by(None)
    if cursor is not None and cursor.direction == NEWER:
        rows = list(db.session.scalars(
            query.where(tuple_(*columns) > tuple_(*cursor.key))
            .order_by(*(c.asc() for c in columns)).limit(per_page + 1)))
        more_newer = len(rows) > per_page
        rows = rows[:per_page][::-1]
        return KeysetPage(rows, cursor_text(OLDER, keyset.key(rows[-1])) if rows else None,
                          cursor_text(NEWER, keyset.key(rows[0])) if more_newer else None)
    query = query.order_by(*(c.desc() for c in columns))
    if cursor is not None:
        query = query.where(tuple_(*columns) < tuple_(*cursor.key))
    elif page:  # the old offset paging, for callers that still send ?page=
        query = query.offset((page - 1) * per_page)
    rows = list(db.session.scalars(query.limit(per_page + 1)))
    more_older = len(rows) > per_page
    rows = rows[:per_page]
    older = cursor_text(OLDER, keyset.key(rows[-1])) if more_older else None
    newer = None
    if rows and (cursor is not None or (page or 1) > 1):
        newer = cursor_text(NEWER, keyset.key(rows[0]))
    return KeysetPage(rows, older, newer)


def pager_links(endpoint: str, found: KeysetPage) -> dict:
    """A page's Older/Newer links: this list, its filters kept, at the page's cursors."""
    return {"older_url": next_path(endpoint, cursor=found.older, page=None) if found.older else None,
            "newer_url": next_path(endpoint, cursor=found.newer, page=None) if found.newer else None}


def keyset_list_page(endpoint: str, keyset: Keyset, lister, user, filters: dict) -> dict:
    """A list page's figures from the request: the rows ``lister(user, cursor, page,
    per_page, **filters)`` finds, its Older/Newer links, and the field errors of a bad cursor
    or filter (then no rows, and the page answers 422 with the errors by their fields)."""
    errors, found = {}, KeysetPage([], None, None)
    try:
        cursor, page, per_page = parse_keyset_args(request.args, keyset)
        found = lister(user, cursor, page, per_page, **filters)
    except ValidationError as exc:
        errors = exc.fields
    return {"rows": found.rows, "errors": errors, "filters": filters,
            "status": 422 if errors else 200, **pager_links(endpoint, found)}
