"""An invoice as an Australian tax invoice PDF (WeasyPrint). Runs in an app context only."""
import os
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from types import SimpleNamespace

from flask import current_app, render_template

from .billing.labels import unit_label
from .billing.money import CURRENCY_SYMBOLS, format_cents
from .billing.quote import TAX

STATIC_FOLDER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")

MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)


@dataclass
class Section:
    heading: str
    reference: str | None
    lines: list = field(default_factory=list)

    @property
    def subtotal_cents(self) -> int:
        return sum(line.amount_cents for line in self.lines)


METHOD_LABELS = {"bank_transfer": "Bank transfer", "card": "Card", "other": "Other"}


def render_invoice_pdf(invoice, *, draft: bool, settlement: dict | None = None) -> bytes:
    """Render `invoice` (a portal.models.Invoice with .lines and .tenant loaded) to PDF bytes.
    ``settlement``: its payments, credit notes and credit allocations (what it says it owes)."""
    html = render_template("invoices/pdf.html", **_context(invoice, draft), **_money(invoice, settlement or {}))
    return _write_pdf(html)


def render_credit_note_pdf(note) -> bytes:
    """An adjustment note: its number, the original invoice's number and date, the invoice's
    snapshotted seller and bill-to, the lines credited, the GST adjusted and the total."""
    invoice = note.invoice
    seller, bill_to = _parties(invoice)
    html = render_template(
        "credit_notes/pdf.html", note=note, invoice=invoice,
        seller={**seller, "address": _address_lines(seller["address"])},
        bill_to={**bill_to, "address": _address_lines(bill_to["address"])},
        tax_name=invoice.tax_name or current_app.config["TAX_NAME"],
        symbol=CURRENCY_SYMBOLS.get(note.currency, ""), amount=format_cents, long_date=long_date)
    return _write_pdf(html)


def _write_pdf(html: str) -> bytes:
    import weasyprint  # slow to import: only when a PDF is actually rendered

    return weasyprint.HTML(
        string=html, base_url=STATIC_FOLDER, url_fetcher=_local_only
    ).write_pdf()


def _money(invoice, settlement: dict) -> dict:
    """What the invoice says it owes: paid, credited, credit applied, still due."""
    paid = invoice.amount_paid_cents or 0
    return {
        "settled": invoice.status == "paid" and invoice.paid_on is not None,
        "paid_cents": paid,
        "credited_cents": invoice.amount_credited_cents or 0,
        "applied_cents": invoice.credit_applied_cents or 0,
        "amount_due_cents": settlement.get("amount_due_cents", invoice.amount_due_cents),
        "payments": settlement.get("payments", []),
        "credit_notes": settlement.get("credit_notes", []),
        "method_label": lambda method: METHOD_LABELS.get(method, method),
    }


def _parties(invoice) -> tuple[dict, dict]:
    """Seller and bill-to: as snapshotted when the invoice was issued, else as they are now
    (a draft preview)."""
    if invoice.parties:
        return invoice.parties["seller"], invoice.parties["bill_to"]
    config = current_app.config
    tenant = invoice.tenant
    return (
        {"name": config["SELLER_NAME"], "abn": config["SELLER_ABN"],
         "address": config["SELLER_ADDRESS"], "email": config["SELLER_EMAIL"]},
        {"name": tenant.billing_name, "address": tenant.billing_address, "abn": tenant.abn},
    )


def _context(invoice, draft: bool) -> dict:
    config = current_app.config
    seller, bill_to = _parties(invoice)
    lines = sorted(invoice.lines, key=lambda line: line.position)
    tax_lines = [line for line in lines if line.kind == TAX]
    # An issued invoice keeps the tax it was issued with; a draft shows today's.
    rate = Decimal(invoice.tax_rate if invoice.tax_rate is not None else config["TAX_RATE"])
    tax_name = invoice.tax_name or config["TAX_NAME"]
    return {
        "invoice": invoice,
        "draft": draft,
        "void": invoice.status == "void",
        "tenant": SimpleNamespace(billing_name=bill_to["name"], abn=bill_to["abn"]),
        "seller": {**seller, "address": _address_lines(seller["address"])},
        "customer_address": _address_lines(bill_to["address"]),
        "sections": _sections(lines),
        # The tax line(s) as built; an invoice without one still shows its tax honestly.
        "tax_rows": [(line.description, line.amount_cents) for line in tax_lines]
        or [(f"{tax_name} {_percent(rate)}", invoice.tax_cents)],
        "tax_name": tax_name,
        "period_last_day": invoice.period_end - timedelta(days=1),
        "due_days": config.get("INVOICE_DUE_DAYS"),
        "symbol": CURRENCY_SYMBOLS.get(invoice.currency, ""),
        "amount": format_cents,
        "long_date": long_date,
        "unit_label": unit_label,
    }


def _sections(lines) -> list[Section]:
    """One section per deployment in order of first appearance; tenant-level lines last."""
    by_deployment: dict[int, Section] = {}
    tenant_level = Section("Account charges", None)
    for line in lines:
        if line.kind == TAX:
            continue
        if line.deployment_id is None:
            tenant_level.lines.append(line)
            continue
        section = by_deployment.get(line.deployment_id)
        if section is None:
            name = line.deployment.name if line.deployment is not None else "Deployment"
            section = by_deployment[line.deployment_id] = Section(name, f"#{line.deployment_id}")
        section.lines.append(line)
    sections = list(by_deployment.values())
    if tenant_level.lines:
        sections.append(tenant_level)
    return sections


def long_date(value: date | None) -> str:
    """2026-05-15 -> "15 May 2026", independent of the process locale."""
    if value is None:
        return ""
    return f"{value.day} {MONTHS[value.month - 1]} {value.year}"


def _percent(rate: Decimal) -> str:
    return f"{(rate * 100).normalize():f}%"


def _address_lines(text: str | None) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def _local_only(url: str, *args, **kwargs):
    """No network: only files (the static folder) may be fetched while rendering."""
    if not url.startswith("file:"):
        raise ValueError(f"refusing to fetch {url!r} while rendering an invoice")
    from weasyprint import default_url_fetcher

    return default_url_fetcher(url, *args, **kwargs)
