"""Importing the provider's invoice CSV as cost lines, for months the API did not bring in.

The whole file parses before anything is written; its lines then replace those of an earlier
import of the same file (same period and content), in one transaction, so importing twice is
the same as importing once.
"""
import csv
import io
import re
from dataclasses import dataclass
from decimal import Decimal
from hashlib import sha256

from flask import current_app
from sqlalchemy import delete, select

from ..billing.money import cents_from_units
from ..errors import ValidationError
from ..extensions import db
from ..models import ProviderCostLine, ProviderResource, User
from ..permissions import check
from . import audit
from .invoices import parse_period
from .validation import string_problem

MAX_BYTES = 5 * 1024 * 1024
AMOUNT_COLUMNS = ("usd", "amount")
PRODUCT_MAX = 80  # ProviderCostLine.product
MAX_AMOUNT_CENTS = 10**15  # far beyond any provider invoice line; well inside BIGINT


@dataclass(frozen=True)
class ParsedLine:
    product: str
    description: str
    amount_cents: int


AMOUNT = re.compile(r"(-?)\$?(-?)(\d+(?:\.\d*)?|\.\d+)")


def parse_amount(text: str | None) -> int:
    """ "12.34", "$12.34", "-1.00", "-$1.00", "1,234.50" → integer cents, half-up; else
    ValueError (not an amount) or OverflowError (beyond ``MAX_AMOUNT_CENTS``)."""
    match = AMOUNT.fullmatch((text or "").strip().replace(",", ""))
    if match is None or (match.group(1) and match.group(2)):
        raise ValueError(text)
    if len(match.group(3)) > 40:
        raise OverflowError(text)
    cents = cents_from_units(Decimal(match.group(3)))
    if cents > MAX_AMOUNT_CENTS:
        raise OverflowError(text)
    return -cents if (match.group(1) or match.group(2)) else cents


def parse_invoice_csv(content: bytes) -> list[ParsedLine]:
    """DigitalOcean's invoice CSV → lines, or ValidationError({"file": …}) naming the first
    bad data row (1-based)."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationError({"file": "is not UTF-8 text"}) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if header is None:
            raise ValidationError({"file": "is empty; expected a header row"})
        for name in header:
            problem = string_problem(name, 200)
            if problem:
                raise ValidationError({"file": f"the header: a column name {problem}"})
        columns = [name.strip().lower() for name in header]
        amount_column = next((c for c in AMOUNT_COLUMNS if c in columns), None)
        missing = [c for c in ("product", "description") if c not in columns]
        if amount_column is None:
            missing.append("USD")
        if missing:
            raise ValidationError({"file": f"the header lacks the column(s) {', '.join(missing)}; "
                                           "expected DigitalOcean's invoice CSV"})
        where = {name: columns.index(name) for name in ("product", "description", amount_column)}
        lines = []
        row_no = 0
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue  # blank lines are not data rows
            row_no += 1

            for value in row:
                problem = string_problem(value)
                if problem:
                    raise ValidationError({"file": f"row {row_no}: a cell {problem}"})

            def cell(name, row=row):
                i = where[name]
                return row[i].strip() if i < len(row) else ""

            raw = cell(amount_column)
            try:
                cents = parse_amount(raw)
            except ValueError:
                raise ValidationError({"file": f"row {row_no}: amount '{raw[:40]}' is not a number"}) from None
            except OverflowError:
                raise ValidationError({"file": f"row {row_no}: amount '{raw[:40]}' is out of range "
                                               f"(at most {MAX_AMOUNT_CENTS // 100:,})"}) from None
            product = cell("product")
            if not product:
                raise ValidationError({"file": f"row {row_no}: the product is empty"})
            lines.append(ParsedLine(product[:PRODUCT_MAX], cell("description"), cents))
    except csv.Error as exc:
        raise ValidationError({"file": f"is not a readable CSV file ({exc})"}) from None
    return lines


def _owners_by_name() -> dict[str, int]:
    """Resource name → deployment id, for names that point at exactly one deployment."""
    owners: dict[str, set[int]] = {}
    for name, deployment_id in db.session.execute(
            select(ProviderResource.name, ProviderResource.deployment_id)
            .where(ProviderResource.deployment_id.is_not(None))):
        owners.setdefault(name, set()).add(deployment_id)
    return {name: ids.pop() for name, ids in owners.items() if len(ids) == 1}


def invoice_ref(period: str, content: bytes) -> str:
    return f"csv:{period}:{sha256(content).hexdigest()[:16]}"


def import_invoice_csv(user: User, period: str, filename: str, content: bytes) -> int:
    """Store the CSV's lines as the cost of ``period`` ("YYYY-MM"); returns how many."""
    check(user, "provider.manage")
    start, _end = parse_period(period)
    if len(content) > MAX_BYTES:
        raise ValidationError({"file": "is larger than 5 MB"})
    parsed = parse_invoice_csv(content)
    ref = invoice_ref(start.strftime("%Y-%m"), content)
    owners = _owners_by_name()
    currency = current_app.config["PROVIDER_CURRENCY"]
    try:
        db.session.execute(delete(ProviderCostLine).where(ProviderCostLine.invoice_ref == ref))
        for line_no, line in enumerate(parsed, start=1):
            db.session.add(ProviderCostLine(
                source="csv", invoice_ref=ref, line_no=line_no, period=start,
                product=line.product, provider_id=None, description=line.description,
                amount_cents=line.amount_cents, currency=currency,
                deployment_id=owners.get(line.description)))
        audit.record(user, "costs.import", "period", None, filename=filename, lines=len(parsed),
                     period=start.strftime("%Y-%m"), invoice_ref=ref)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return len(parsed)
