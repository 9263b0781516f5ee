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
import base64
import binascii
import math
import re
from dataclasses import dataclass
from datetime import date

from flask import request, url_for
from sqlalchemy import Select, func, select, tuple_

from ..errors import ValidationError
from ..extensions import db

PER_PAGE = 50
MAX_PER_PAGE = 500
MAX_PAGE = 1_000_000
MAX_KEY = 2**31 - 1  # the database's integer keys
MAX_CENTS = 2**63 - 1  # its BIGINT amounts
CENTS = "cents"  # a Keyset column type: an amount in cents (BIGINT, may be negative)


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

OLDER, NEWER = "o", "n"  # forward (the next page) and back (the previous one) in the list's order
MAX_CURSOR = 400  # a text key (an email) travels base64url-encoded


@dataclass(frozen=True)
class Keyset:
    """A list's order: its columns (none nullable), all descending (newest first) or all
    ascending, the last one unique. ``name`` is the sort it serves, written into its cursors
    so a cursor of one order is refused by another; "" for the list's default order (whose
    cursors read ``o.2026-04-01.1234``)."""
    columns: tuple  # of (column, type), type date, int (a key), CENTS or str
    descending: bool = True
    name: str = ""

    def key(self, row) -> tuple:
        return tuple(getattr(row, column.key) for column, _ in self.columns)


@dataclass(frozen=True)
class Sorts:
    """The orders a list offers: ``?sort=total`` ascending, ``?sort=-total`` descending, by
    ``fields[name]`` then the id (unique, the tie-break). Every order is a keyset, so each
    deep page is read from an index (see the list's indexes)."""
    fields: dict  # name -> (column, type)
    default: str  # e.g. "-period"
    id_column: object

    @property
    def choices(self) -> list[str]:
        return [token for name in self.fields for token in (name, "-" + name)]

    def parse(self, raw: str | None) -> str:
        """The sort token asked for (the default when absent or blank), or a 422."""
        if raw is None or raw == "":
            return self.default
        if raw not in self.choices:
            raise ValidationError({"sort": f"must be one of {', '.join(self.choices)}"})
        return raw

    def keyset(self, token: str) -> Keyset:
        name = token.lstrip("-")
        column = self.fields[name]
        columns = (column,) if column[0] is self.id_column else (column, (self.id_column, int))
        return Keyset(columns, descending=token.startswith("-"),
                      name="" if token == self.default else token)

    def state(self, token: str) -> dict:
        """For the headers: the column sorted and its direction."""
        return {"field": token.lstrip("-"), "descending": token.startswith("-"),
                "token": token, "default": self.default}


@dataclass
class Cursor:
    direction: str  # OLDER: rows after the key in the list's order; NEWER: rows before it
    key: tuple


def _key_text(value) -> str:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):  # base64url: no dots, nothing a URL must escape
        return base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")
    return str(value)


def cursor_text(direction: str, key: tuple, keyset: Keyset | None = None) -> str:
    """Opaque to callers; readable to us: ``o.2026-04-01.1234``, ``n.-total.4500.1234``."""
    name = [keyset.name] if keyset is not None and keyset.name else []
    return ".".join([direction, *name, *(_key_text(v) for v in key)])


def parse_cursor(raw: str, keyset: Keyset) -> Cursor:
    """A cursor this list made, or a 422: never a query with a value the database refuses."""
    problem = {"cursor": "is not a cursor of this list: follow `next` (or Older/Newer) as given"}
    parts = raw.split(".") if len(raw) <= MAX_CURSOR else []
    if keyset.name:  # a sorted order's cursor names its sort
        if len(parts) < 2 or parts.pop(1) != keyset.name:
            raise ValidationError(problem)
    if len(parts) != len(keyset.columns) + 1 or parts[0] not in (OLDER, NEWER):
        raise ValidationError(problem)
    key = []
    for text, (_, kind) in zip(parts[1:], keyset.columns):
        try:
            if kind is str:
                if not re.fullmatch(r"[A-Za-z0-9_-]{0,400}", text):
                    raise ValueError(text)
                decoded = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
                if "\x00" in decoded:  # no text column holds a NUL (PostgreSQL refuses it)
                    raise ValueError(text)
                key.append(decoded)
            elif kind is date:
                if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
                    raise ValueError(text)
                key.append(date.fromisoformat(text))
            elif kind is CENTS:  # a money column: BIGINT, and may be negative
                if not re.fullmatch(r"-?[0-9]{1,19}", text) or abs(int(text)) > MAX_CENTS:
                    raise ValueError(text)
                key.append(int(text))
            else:
                if not re.fullmatch(r"[0-9]{1,10}", text) or int(text) > MAX_KEY:
                    raise ValueError(text)
                key.append(int(text))
        except (ValueError, binascii.Error):  # UnicodeDecodeError is a ValueError
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


def _ordered(query: Select, keyset: Keyset, reverse: bool = False) -> Select:
    descending = keyset.descending != reverse
    return query.order_by(*(c.desc() if descending else c.asc() for c, _ in keyset.columns))


@dataclass
class ListArgs:
    """What a sorted keyset list was asked for: ``sort``, ``cursor`` (or the old ``page``),
    ``per_page``."""
    sort: str
    keyset: Keyset
    cursor: Cursor | None
    page: int | None
    per_page: int


def parse_list_args(args, sorts: Sorts) -> ListArgs:
    """A list's ``sort``, ``cursor``/``page`` and ``per_page``; a 422 naming each bad one."""
    errors, token = {}, sorts.default
    try:
        token = sorts.parse(args.get("sort"))
    except ValidationError as exc:
        errors.update(exc.fields)
    keyset = sorts.keyset(token)
    try:
        cursor, page, per_page = parse_keyset_args(args, keyset)
    except ValidationError as exc:
        errors.update(exc.fields)
    if errors:
        raise ValidationError(errors)
    return ListArgs(token, keyset, cursor, page, per_page)


def keyset_page(query: Select, keyset: Keyset, cursor: Cursor | None = None,
                page: int | None = None, per_page: int = PER_PAGE) -> KeysetPage:
    """One page of ``query`` in ``keyset``'s order (its own order_by is replaced)."""
    query = query.order_by(None)
    text = lambda direction, row: cursor_text(direction, keyset.key(row), keyset)  # noqa: E731
    if cursor is not None and cursor.direction == NEWER:
        rows = list(db.session.scalars(
            _ordered(query.where(_before_after(keyset, cursor.key, forward=False)), keyset,
                     reverse=True).limit(per_page + 1)))
        more_newer = len(rows) > per_page
        rows = rows[:per_page][::-1]
        return KeysetPage(rows, text(OLDER, rows[-1]) if rows else None,
                          text(NEWER, rows[0]) if more_newer else None)
    query = _ordered(query, keyset)
    if cursor is not None:
        query = query.where(_before_after(keyset, cursor.key, forward=True))
    elif page:  # the old offset paging, for callers that still send ?page=
        query = query.offset((page - 1) * per_page)
    rows = list(db.session.scalars(query.limit(per_page + 1)))
    more_older = len(rows) > per_page
    rows = rows[:per_page]
    older = text(OLDER, rows[-1]) if more_older else None
    newer = None
    if rows and (cursor is not None or (page or 1) > 1):
        newer = text(NEWER, rows[0])
    return KeysetPage(rows, older, newer)


# --- what the filters select, and where a page sits in it ------------------------------------

def _before_after(keyset: Keyset, cursor_key: tuple, forward: bool, columns=None):
    """Rows strictly after ``cursor_key`` in the list's order (forward) or strictly before.
    ``columns``: the same columns of a subquery, when the clause is on one."""
    columns = tuple_(*(columns or [column for column, _ in keyset.columns]))
    key = tuple_(*cursor_key)
    return (columns < key) if forward == keyset.descending else (columns > key)


@dataclass
class Totals:
    """What a list's filters select: how many rows, sums per currency, and how many rows come
    before the page asked for (the cursor's side of it)."""
    count: int
    by_currency: list  # of (currency, {name: cents})
    counted_before: int = 0


def totals(query: Select, sums: dict, keyset: Keyset | None = None,
           cursor: Cursor | None = None) -> Totals:
    """One aggregate over the list's filtered query (its order dropped), one scan: the count,
    per currency each of ``sums`` (``name -> function of the query's columns`` giving cents),
    and with a cursor the rows before it (``count(*) FILTER``, for :func:`position`)."""
    sub = query.order_by(None).subquery()
    columns = [func.count().label("n")]
    if cursor is not None:
        on_sub = [sub.c[column.key] for column, _ in keyset.columns]
        before = (_before_after(keyset, cursor.key, forward=False, columns=on_sub)
                  if cursor.direction == NEWER else
                  ~_before_after(keyset, cursor.key, forward=True, columns=on_sub))
        columns.append(func.count().filter(before).label("before"))
    if not sums:  # a list without money: how many
        row = db.session.execute(select(*columns).select_from(sub)).one()
        return Totals(row.n, [], getattr(row, "before", 0))
    named = [func.coalesce(func.sum(fn(sub.c)), 0).label(name) for name, fn in sums.items()]
    rows = db.session.execute(select(sub.c.currency, *columns, *named)
                              .group_by(sub.c.currency).order_by(sub.c.currency)).all()
    return Totals(sum(row.n for row in rows),
                  [(row.currency, {name: int(getattr(row, name)) for name in sums}) for row in rows],
                  sum(getattr(row, "before", 0) for row in rows))


@dataclass
class Position:
    first: int  # 1-based number of the page's first row (0 when there is none)
    last: int
    total: int
    page: int
    pages: int


def position(found: Totals, cursor: Cursor | None, page: int | None, per_page: int) -> Position:
    """"51–100 of 1,234, page 2 of 25" for the page ``cursor`` (or ``page``) shows, from
    :func:`totals` (the rows before the cursor). Kept out of the list's own query."""
    total = found.count
    pages = max(1, math.ceil(total / per_page))
    if cursor is None:
        before = ((page or 1) - 1) * per_page
        last = min(before + per_page, total)
    elif cursor.direction == NEWER:  # the page is the per_page rows just before the cursor
        before = max(0, found.counted_before - per_page)
        last = found.counted_before
    else:
        before = found.counted_before
        last = min(before + per_page, total)
    first = min(before + 1, total) if total else 0
    return Position(first, last, total, min(pages, before // per_page + 1), pages)


def pager_links(endpoint: str, found: KeysetPage) -> dict:
    """A page's Older/Newer links: this list, its filters kept, at the page's cursors."""
    return {"older_url": next_path(endpoint, cursor=found.older, page=None) if found.older else None,
            "newer_url": next_path(endpoint, cursor=found.newer, page=None) if found.newer else None}
