"""One page of a query: the API's lists answer ``{"<plural>": [...], "next": n | null}``."""
import re

from sqlalchemy import Select

from ..errors import ValidationError
from ..extensions import db

PER_PAGE = 50
MAX_PER_PAGE = 500
MAX_PAGE = 1_000_000


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
