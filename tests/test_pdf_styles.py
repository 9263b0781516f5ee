"""The renderer's shortcuts change no byte of any PDF: each document, rendered after others of
every kind, equals WeasyPrint's own render of the same HTML with the same stylesheets, parsed
by WeasyPrint's HTML5 parser (the renderer reads the templates as XML) and without the
computed-style memo (portal/pdf_styles.py)."""
from datetime import date
from types import SimpleNamespace

from flask import render_template

from portal import pdf
from portal.billing.money import format_cents
from portal.models import Deployment, Invoice

from .test_pdf import line, make_tenant, sample_invoice


def long_invoice():
    tenant = make_tenant()
    deployments = [Deployment(id=i, name=f"deployment-{i}", region="syd1", status="active",
                              tenant=tenant) for i in (11, 12, 13)]
    lines, subtotal, position = [], 0, 0
    for dep in deployments:
        for _ in range(20):
            position += 1
            cents = 100_000 + position * 1_237
            subtotal += cents
            lines.append(line(position, "overage", dep, f"Usage item {position} for {dep.name}",
                              position, "hour", 1, cents, "droplet_hours"))
    lines.append(line(position + 1, "tax", None, "GST 10%", "0.10", "rate", subtotal, subtotal // 10))
    invoice = Invoice(id=2, number="ARC-000002", tenant=tenant, period_start=date(2026, 4, 1),
                      period_end=date(2026, 5, 1), currency="AUD", subtotal_cents=subtotal,
                      tax_cents=subtotal // 10, total_cents=subtotal + subtotal // 10,
                      status="issued", issued_on=date(2026, 5, 1), due_on=date(2026, 5, 15))
    invoice.lines = lines
    return invoice


def documents() -> dict[str, str]:
    """name → the HTML of one PDF, one of each kind the portal renders."""
    void = sample_invoice(status="void")
    void.voided_on = date(2026, 5, 20)
    tenant_lines = sample_invoice()
    tenant_lines.lines.append(line(5, "addon", None, "Priority support, monthly", 1, "month", 1234, 1234))
    payments = [SimpleNamespace(paid_on=date(2026, 5, 3), method="card", reference="R-1", amount_cents=4000),
                SimpleNamespace(paid_on=date(2026, 5, 10), method="bank_transfer", reference=None,
                                amount_cents=3064)]
    paid = sample_invoice(status="paid")
    paid.paid_on, paid.amount_paid_cents = date(2026, 5, 10), 7064
    partly = sample_invoice()
    partly.amount_paid_cents, partly.amount_credited_cents, partly.credit_applied_cents = 1000, 500, 64
    invoices = {
        "issued": (sample_invoice(), False, {}),
        "draft": (sample_invoice(status="draft", numbered=False), True, {}),
        "void": (void, False, {}),
        "no customer ABN": (sample_invoice(tenant=make_tenant(abn=None)), False, {}),
        "tenant-level lines": (tenant_lines, False, {}),
        "paid": (paid, False, {"payments": payments, "amount_due_cents": 0}),
        "partly paid and credited": (partly, False, {
            "payments": payments[:1], "credit_notes": [SimpleNamespace(number="CN-000001")],
            "amount_due_cents": 5500}),
        "three pages": (long_invoice(), False, {}),
    }
    html = {name: render_template("pdf/invoice.html", **pdf._context(invoice, draft),
                                  **pdf._money(invoice, settlement))
            for name, (invoice, draft, settlement) in invoices.items()}
    invoice = sample_invoice()
    seller, bill_to = pdf._parties(invoice)
    note = SimpleNamespace(
        invoice=invoice, number="CN-000001", issued_on=date(2026, 5, 20), reason="Storage overcharged",
        currency="AUD", lines=[SimpleNamespace(description="Storage 50 GB addon, monthly", amount_cents=750)],
        subtotal_cents=750, tax_cents=75, total_cents=825, against_invoice_cents=825, refund_cents=0,
        to_balance_cents=0, refunded_on=None)
    html["adjustment note"] = render_template(
        "pdf/credit_note.html", note=note, invoice=invoice,
        seller={**seller, "lines": pdf._seller_lines(seller)},
        bill_to={**bill_to, "lines": pdf._bill_to_lines(bill_to)},
        tax_name="GST", symbol="$", amount=format_cents, long_date=pdf.long_date)
    return html


def plain_weasyprint(html: str) -> bytes:
    """WeasyPrint as documented: a font configuration for the stylesheet's @font-face rules,
    nothing kept from one PDF to the next."""
    import weasyprint
    from weasyprint.text.fonts import FontConfiguration

    fonts = FontConfiguration()
    user_agent = [weasyprint.CSS(string=pdf._read("ua.css"))]

    class Html(weasyprint.HTML):
        def _ua_stylesheets(self, *args, **kwargs):
            return user_agent

    fetcher = pdf.local_url_fetcher()
    return Html(string=pdf._TEMPLATE_FORMATTING.sub("><", html), base_url=pdf.STATIC_FOLDER,
                url_fetcher=fetcher).write_pdf(
        stylesheets=[weasyprint.CSS(string=pdf._read("document.css"), base_url=pdf.STATIC_FOLDER,
                                    url_fetcher=fetcher, font_config=fonts)],
        font_config=fonts)


def test_every_kind_of_pdf_is_byte_for_byte_what_weasyprint_renders_without_the_memo(app):
    with app.app_context():
        html = documents()
        assert all(pdf._xml_root(page) is not None for page in html.values())  # the fast parser
        expected = {name: plain_weasyprint(page) for name, page in html.items()}
        # Three rounds in different orders: each document after every other kind, the memo
        # filled by all of them.
        names = list(html)
        orders = [names, names[::-1], names[1::2] + names[::2]]
        rendered = [(name, pdf.write_pdf(html[name])) for order in orders for name in order]
        memo = pdf.renderer().style_memo
    assert len(expected) == 9 and len(set(expected.values())) == 9
    for name, content in rendered:
        assert content == expected[name], name
    # The memo was used: it holds the documents' styles, far fewer than their elements.
    assert 50 < len(memo.entries) < 1000


def test_html_that_is_not_well_formed_xml_goes_to_the_html5_parser(app, tmp_path):
    from .test_pdf import pdf_text

    page = "<!doctype html><html><body><p>Unclosed<br>line &nbsp;two<table><tr><td>cell</td></tr></table></body></html>"
    assert pdf._xml_root(page) is None
    assert pdf._xml_root("<p>a fragment</p>") is None  # not a whole document: HTML5 wraps it
    # A control character in a tenant's address is no XML: that PDF takes the HTML5 path.
    assert pdf._xml_root("<!doctype html><html><body><p>Unit 4\x0cLevel 2</p></body></html>") is None
    assert pdf._xml_root('<html><head><base href="file:///tmp/"/></head><body></body></html>') is None
    with app.app_context():
        content = pdf.write_pdf(page)
    assert content == plain_weasyprint(page)
    assert "Unclosed" in pdf_text(content, tmp_path) and "cell" in pdf_text(content, tmp_path)


def test_pdfs_embed_the_cut_latin_fonts_and_fall_back_to_the_system_font_for_other_letters(app, tmp_path):
    import subprocess

    from portal.pdf import render_invoice_pdf

    from .test_pdf import pdf_text

    tenant = make_tenant()
    tenant.billing_name = "Ōtautahi Studio Limited"  # Ō is not in the cut fonts
    with app.app_context():
        content = render_invoice_pdf(sample_invoice(tenant=tenant), draft=False)
    assert len(content) < 100_000
    assert "Ōtautahi Studio Limited" in pdf_text(content, tmp_path)
    path = tmp_path / "fonts.pdf"
    path.write_bytes(content)
    fonts = subprocess.run(["pdffonts", str(path)], check=True, capture_output=True, text=True).stdout
    embedded = sorted(row.split()[0].split("+")[1] for row in fonts.splitlines()[2:])
    # The cut fonts for everything, the system's bold DejaVu Sans for the bold name's Ō alone.
    assert embedded == ["DejaVu-Sans-Bold", "DejaVu-Sans-Latin", "DejaVu-Sans-Latin-Bold"]


def tenant_documents() -> dict[str, str]:
    """Invoices that differ only in what a tenant typed: other scripts (right to left, CJK, a
    letter the cut fonts lack), an address that wraps, a word longer than its column."""
    def invoice(**changes):
        tenant = make_tenant()
        for name, value in changes.items():
            setattr(tenant, name, value)
        return sample_invoice(tenant=tenant)

    invoices = {
        "latin": sample_invoice(),
        "arabic": invoice(billing_name="شركة أكمي للذكاء الاصطناعي"),
        "hebrew and latin": invoice(billing_name='עברית בע"מ Acme AI'),
        "cjk": invoice(billing_name="株式会社アクメ人工知能研究所"),
        "macron": invoice(billing_name="Ōtautahi Studio Limited"),
        "wrapping address": invoice(billing_address="Level 3, " + "Very Long Street Name " * 12
                                    + "\nSydney NSW 2000\nAustralia"),
        "long word": invoice(billing_name="A" * 150),
        "draft": sample_invoice(status="draft", numbered=False),
    }
    return {name: render_template("pdf/invoice.html", **pdf._context(invoice, name == "draft"),
                                  **pdf._money(invoice, {}))
            for name, invoice in invoices.items()}


def test_what_a_tenant_typed_never_carries_a_style_into_another_pdf(app):
    with app.app_context():
        html = tenant_documents()
        expected = {name: plain_weasyprint(page) for name, page in html.items()}
        names = list(html)
        rendered = [(name, pdf.write_pdf(html[name]))
                    for order in (names, names[::-1]) for name in order]
    assert len(set(expected.values())) == len(expected) == 8
    assert [name for name, content in rendered if content != expected[name]] == []


def test_a_memo_that_starts_again_inside_a_document_changes_no_byte(app, monkeypatch):
    """A full memo is cleared while a document's styles still point at its entries."""
    from portal import pdf_styles

    monkeypatch.setattr(pdf_styles, "MAX_ENTRIES", 7)
    # A renderer of its own with the small memo (the thread's own comes back after the test).
    monkeypatch.delattr(pdf._local, "renderer", raising=False)
    with app.app_context():
        html = tenant_documents()
        expected = {name: plain_weasyprint(page) for name, page in html.items()}
        rendered = [(name, pdf.write_pdf(html[name])) for name in list(html) * 2]
        assert len(pdf.renderer().style_memo.entries) <= 7
    assert [name for name, content in rendered if content != expected[name]] == []


def test_renderers_on_several_threads_at_once_each_render_what_weasyprint_does(app):
    from concurrent.futures import ThreadPoolExecutor

    with app.app_context():
        html = tenant_documents()
        expected = {name: plain_weasyprint(page) for name, page in html.items()}

    def render(name):
        with app.app_context():
            return name, pdf.write_pdf(html[name])

    with ThreadPoolExecutor(max_workers=3) as pool:
        rendered = list(pool.map(render, list(html) * 3))
    assert [name for name, content in rendered if content != expected[name]] == []
