"""An invoice as an Australian tax invoice PDF (WeasyPrint). Runs in an app context only.

Rendering is kept cheap (issue 11): the templates under templates/pdf share one small stylesheet
and a user-agent sheet of a few lines, parsed once per thread with one font configuration
(Pango's font map, the fonts found once), and WeasyPrint reuses them on every render."""
import os
import re
import threading
from xml.etree import ElementTree
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from types import SimpleNamespace

from flask import current_app, render_template

from .billing.labels import unit_label
from .billing.money import CURRENCY_SYMBOLS, format_cents
from .billing.quote import TAX

STATIC_FOLDER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
PDF_TEMPLATES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates", "pdf")

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
    html = render_template("pdf/invoice.html", **_context(invoice, draft), **_money(invoice, settlement or {}))
    return write_pdf(html)


def render_credit_note_pdf(note) -> bytes:
    """An adjustment note: its number, the original invoice's number and date, the invoice's
    snapshotted seller and bill-to, the lines credited, the GST adjusted and the total."""
    invoice = note.invoice
    seller, bill_to = _parties(invoice)
    html = render_template(
        "pdf/credit_note.html", note=note, invoice=invoice,
        seller={**seller, "lines": _seller_lines(seller)},
        bill_to={**bill_to, "lines": _bill_to_lines(bill_to)},
        tax_name=invoice.tax_name or current_app.config["TAX_NAME"],
        symbol=CURRENCY_SYMBOLS.get(note.currency, ""), amount=format_cents, long_date=long_date)
    return write_pdf(html)


class _Renderer:
    """What WeasyPrint would otherwise build again for every PDF: the font configuration (a
    Pango font map: fontconfig's lookups and the loaded faces), the parsed stylesheets, the
    HTML class that uses the short user-agent sheet, and the computed CSS values of the
    templates' elements (portal/pdf_styles.py)."""

    def __init__(self):
        import cssselect2
        import weasyprint  # slow to import: only when a PDF is actually rendered
        from weasyprint.text.fonts import FontConfiguration
        from weasyprint.urls import ensure_url

        from .pdf_styles import StyleMemo, document_class

        self.font_config = FontConfiguration()
        self.url_fetcher = local_url_fetcher()
        self.stylesheets = [weasyprint.CSS(string=_read("document.css"), font_config=self.font_config,
                                           base_url=STATIC_FOLDER, url_fetcher=self.url_fetcher)]
        user_agent = [weasyprint.CSS(string=_read("ua.css"))]
        self.style_memo = StyleMemo()  # computed CSS values kept from PDF to PDF
        document = document_class(self.style_memo)

        class Html(weasyprint.HTML):
            def __init__(self, string: str, base_url: str, url_fetcher):
                root = _xml_root(string)
                if root is None:  # not well-formed XML: WeasyPrint's own HTML5 parser
                    super().__init__(string=string, base_url=base_url, url_fetcher=url_fetcher)
                    return
                # What weasyprint.HTML.__init__ does with its parser's tree.
                self.base_url = ensure_url(base_url)
                self.url_fetcher = url_fetcher
                self.media_type = "print"
                self.wrapper_element = cssselect2.ElementWrapper.from_html_root(root, content_language=None)
                self.etree_element = self.wrapper_element.etree_element

            def _ua_stylesheets(self, *args, **kwargs):  # WeasyPrint's HTML5 sheet, minus 240 lines
                return user_agent

            def render(self, font_config=None, counter_style=None, color_profiles=None, **options):
                return document._render(self, font_config, counter_style, color_profiles,
                                        {**weasyprint.DEFAULT_OPTIONS, **options})

        self.html = Html

    def write_pdf(self, html: str) -> bytes:
        document = self.html(string=_TEMPLATE_FORMATTING.sub("><", html), base_url=STATIC_FOLDER,
                             url_fetcher=self.url_fetcher)
        return document.write_pdf(stylesheets=self.stylesheets, font_config=self.font_config)


def _xml_root(html: str):
    """The templates under templates/pdf are also well-formed XML (void elements closed, every
    table's rows in a <tbody>, as an HTML5 parser would put them): the standard library's C
    parser reads them into the same tree as WeasyPrint's pure-Python HTML5 parser, in a tenth
    of the time. None when ``html`` is not such a document, to be parsed as HTML5."""
    try:
        root = ElementTree.fromstring(_DOCTYPE.sub("", html, count=1))
    except ElementTree.ParseError:
        return None
    # A whole document, and none with a <base> (WeasyPrint's own path resolves it).
    return root if root.tag == "html" and root.find(".//base") is None else None


_DOCTYPE = re.compile(r"\A\s*<!doctype html>", re.IGNORECASE)
# Indentation between tags in the templates: each run would be a box for WeasyPrint to lay out.
# A space between inline elements on one line is not touched.
_TEMPLATE_FORMATTING = re.compile(r">[ \t]*\n\s*<")
_local = threading.local()  # one renderer per thread: a Pango font map is not shared between threads


def renderer() -> _Renderer:
    found = getattr(_local, "renderer", None)
    if found is None:
        found = _local.renderer = _Renderer()
    return found


def write_pdf(html: str) -> bytes:
    """HTML from a template under templates/pdf → PDF bytes."""
    return renderer().write_pdf(html)


def warm() -> None:
    """Build this thread's renderer and render a line in both weights, so the fonts are loaded
    before the first real PDF (the worker does this before it takes a job)."""
    write_pdf('<p>warm-up <b>warm-up</b></p>')


def _read(name: str) -> str:
    with open(os.path.join(PDF_TEMPLATES, name), encoding="utf-8") as f:
        return f.read()


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
        "seller": {**seller, "lines": _seller_lines(seller)},
        "customer_lines": _bill_to_lines(bill_to),
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


def _seller_lines(seller: dict) -> list[str]:
    """Under the seller's name, one line each (the header prints them as one block)."""
    return [f"ABN {seller['abn']}", *_address_lines(seller["address"]), seller["email"]]


def _bill_to_lines(bill_to: dict) -> list[str]:
    """Under the customer's name: the address, then the ABN when there is one."""
    return _address_lines(bill_to["address"]) + ([f"ABN {bill_to['abn']}"] if bill_to.get("abn") else [])


def _local_only(url: str, *args, **kwargs):
    """No network: only files (the static folder: the PDF fonts) may be fetched while
    rendering. WeasyPrint before its URLFetcher class (see local_url_fetcher)."""
    if not url.startswith("file:"):
        raise ValueError(f"refusing to fetch {url!r} while rendering an invoice")
    from weasyprint import default_url_fetcher

    return default_url_fetcher(url, *args, **kwargs)


def local_url_fetcher():
    """The fetcher for the PDFs: files only, no network. WeasyPrint 70 calls a fetcher for a
    URLFetcherResponse, which a plain function returning a dict no longer is (every fetch
    failed, quietly: the PDF fonts could not load)."""
    try:
        from weasyprint.urls import URLFetcher
    except ImportError:
        return _local_only
    return URLFetcher(allowed_protocols=("file",))
