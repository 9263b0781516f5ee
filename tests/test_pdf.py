"""The invoice PDF: rendered by WeasyPrint, read back with poppler's pdftotext and pdfinfo."""
import re
import subprocess
from datetime import date
from decimal import Decimal

from portal.models import Deployment, Invoice, InvoiceLine, Tenant
from portal.pdf import render_invoice_pdf

ADDRESS = "Level 3, 12 Example Street\nSydney NSW 2000\nAustralia"


def make_tenant(abn="51 824 753 556"):
    return Tenant(slug="acme", name="Acme AI", billing_name="Acme AI Pty Ltd",
                  billing_address=ADDRESS, abn=abn)


def line(position, kind, dep, description, qty, unit, unit_price_cents, amount_cents,
         resource_kind=None):
    return InvoiceLine(position=position, kind=kind, deployment_id=dep.id if dep else None,
                       deployment=dep, resource_kind=resource_kind, description=description,
                       qty=Decimal(qty), unit=unit, unit_price_cents=unit_price_cents,
                       amount_cents=amount_cents)


def sample_invoice(tenant=None, status="issued", numbered=True):
    """Unsaved, unattached objects: no session, so no autoflush."""
    tenant = tenant or make_tenant()
    dep = Deployment(id=7, name="llm-inference", region="syd1", status="active", tenant=tenant)
    issued = dict(number="ARC-000001", issued_on=date(2026, 5, 1), due_on=date(2026, 5, 15))
    if not numbered:
        issued = dict(number=None, issued_on=None, due_on=None)
    invoice = Invoice(id=1, tenant=tenant, period_start=date(2026, 4, 1),
                      period_end=date(2026, 5, 1), currency="AUD", subtotal_cents=6422,
                      tax_cents=642, total_cents=7064, status=status, **issued)
    invoice.lines = [
        line(1, "plan_base", dep, "Studio plan (v1), monthly", 1, "month", 5000, 5000),
        line(2, "addon", dep, "Storage 50 GB addon, monthly", 1, "month", 750, 750, "spaces_gb"),
        line(3, "overage", dep, "droplet_hours beyond the 1,488 hour allowance", 672, "hour",
             1, 672, "droplet_hours"),
        line(4, "tax", None, "GST 10%", "0.10", "rate", 6422, 642),
    ]
    return invoice


def pdf_text(pdf: bytes, tmp_path) -> str:
    path = tmp_path / "invoice.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True,
                          capture_output=True, text=True).stdout


def page_count(pdf: bytes, tmp_path) -> int:
    path = tmp_path / "pages.pdf"
    path.write_bytes(pdf)
    info = subprocess.run(["pdfinfo", str(path)], check=True, capture_output=True,
                          text=True).stdout
    return int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))


def has_amount(text: str, amount: str) -> bool:
    """``amount`` as a whole number in the text, not part of a longer one."""
    return re.search(rf"(?<![\d.,]){re.escape(amount)}(?![\d])", text) is not None


def test_issued_invoice_is_a_complete_tax_invoice(app, tmp_path):
    with app.app_context():
        pdf = render_invoice_pdf(sample_invoice(), draft=False)
    assert pdf.startswith(b"%PDF")
    text = pdf_text(pdf, tmp_path)

    assert "Tax invoice" in text
    assert "DRAFT" not in text and "VOID" not in text
    # Seller.
    assert "Arcadia Cloud Pty Ltd" in text
    assert "ABN 53 004 085 616" in text
    assert "Level 9, 1 Demo Place" in text
    assert "billing@arcadia.example.com" in text
    # Customer.
    assert "Acme AI Pty Ltd" in text
    for address_line in ADDRESS.splitlines():
        assert address_line in text
    assert "ABN 51 824 753 556" in text
    # Number, dates, and the period's last day (period_end is exclusive).
    assert "ARC-000001" in text
    assert "1 May 2026" in text
    assert "Due by 15 May 2026" in text
    assert "1 April 2026" in text and "30 April 2026" in text
    assert "1 May 2026 –" not in text  # not period_end as the last day
    # Lines grouped under their deployment, each amount exact.
    assert "llm-inference" in text and "#7" in text
    for description in ("Studio plan (v1), monthly", "Storage 50 GB addon, monthly"):
        assert description in text
    for amount in ("50.00", "7.50", "6.72"):
        assert has_amount(text, amount), amount
    # Totals.
    assert "$64.22" in text
    assert "GST 10%" in text and "$6.42" in text
    assert re.search(r"Total \(incl\. GST\)\s+\$70\.64 AUD", text)
    assert "Total includes GST of $6.42" in text


def test_draft_preview_is_marked_and_unnumbered(app, tmp_path):
    invoice = sample_invoice(status="draft", numbered=False)
    with app.app_context():
        text = pdf_text(render_invoice_pdf(invoice, draft=True), tmp_path)
    assert "DRAFT — not a tax invoice" in text
    assert "Draft (not yet numbered)" in text
    assert "ARC-" not in text
    assert "Tax invoice" not in text
    assert "$70.64 AUD" in text


def test_void_invoice_is_marked_void(app, tmp_path):
    invoice = sample_invoice(status="void")
    invoice.voided_on = date(2026, 5, 20)
    with app.app_context():
        text = pdf_text(render_invoice_pdf(invoice, draft=False), tmp_path)
    assert "VOID" in text
    assert "20 May 2026" in text
    assert "ARC-000001" in text


def test_customer_without_abn_shows_only_the_sellers(app, tmp_path):
    invoice = sample_invoice(tenant=make_tenant(abn=None))
    with app.app_context():
        text = pdf_text(render_invoice_pdf(invoice, draft=False), tmp_path)
    assert "ABN 53 004 085 616" in text
    assert "Acme AI Pty Ltd" in text
    # Only the seller's ABN: none printed for the customer.
    assert re.findall(r"ABN \d[\d ]*\d", text) == ["ABN 53 004 085 616"]
    assert "51 824 753 556" not in text


def test_tenant_level_lines_get_their_own_section(app, tmp_path):
    invoice = sample_invoice()
    invoice.lines.append(line(5, "addon", None, "Priority support, monthly", 1, "month", 1234, 1234))
    with app.app_context():
        text = pdf_text(render_invoice_pdf(invoice, draft=False), tmp_path)
    assert "Account charges" in text
    assert "Priority support, monthly" in text
    assert has_amount(text, "12.34")
    assert "Subtotal, llm-inference" in text and has_amount(text, "64.22")


def test_long_invoice_flows_onto_more_pages(app, tmp_path):
    tenant = make_tenant()
    deployments = [Deployment(id=i, name=f"deployment-{i}", region="syd1", status="active",
                              tenant=tenant) for i in (11, 12, 13)]
    lines, amounts, position = [], [], 0
    for dep in deployments:
        for n in range(20):
            position += 1
            cents = 100_000 + position * 1_237  # distinct, all 4 digits before the point
            amounts.append(cents)
            lines.append(line(position, "overage", dep, f"Usage item {position} for {dep.name}",
                              position, "hour", 1, cents, "droplet_hours"))
    subtotal = sum(amounts)
    tax = subtotal // 10
    lines.append(line(position + 1, "tax", None, "GST 10%", "0.10", "rate", subtotal, tax))
    invoice = Invoice(id=2, number="ARC-000002", tenant=tenant, period_start=date(2026, 4, 1),
                      period_end=date(2026, 5, 1), currency="AUD", subtotal_cents=subtotal,
                      tax_cents=tax, total_cents=subtotal + tax, status="issued",
                      issued_on=date(2026, 5, 1), due_on=date(2026, 5, 15))
    invoice.lines = lines

    with app.app_context():
        pdf = render_invoice_pdf(invoice, draft=False)
    text = pdf_text(pdf, tmp_path)
    pages = page_count(pdf, tmp_path)
    assert pages > 1
    assert f"Page {pages} of {pages}" in text
    # The table header repeats on the pages a section continues onto.
    assert text.count("DESCRIPTION") > 3
    for cents in amounts:
        assert has_amount(text, f"{cents // 100:,}.{cents % 100:02d}"), cents
    for dep in deployments:
        assert f"Subtotal, {dep.name}" in text
    total = subtotal + tax
    assert f"${total // 100:,}.{total % 100:02d} AUD" in text


def test_the_renderer_is_built_once_per_thread_and_leaves_nothing_between_pdfs(app, tmp_path):
    import threading

    from portal import pdf

    other = sample_invoice(tenant=make_tenant(abn=None), status="void")
    with app.app_context():
        first = render_invoice_pdf(sample_invoice(), draft=False)
        renderer = pdf.renderer()
        between = render_invoice_pdf(other, draft=False)
        again = render_invoice_pdf(sample_invoice(), draft=False)
        assert pdf.renderer() is renderer
    # The same invoice gives the same bytes after another document used the same stylesheets
    # and fonts: no footer string, watermark or page count carried over.
    assert again == first and between != first
    assert "VOID" not in pdf_text(again, tmp_path)
    assert re.search(r"Arcadia Cloud Pty Ltd · ARC-000001\s+Page 1 of 1", pdf_text(again, tmp_path))
    seen = []
    thread = threading.Thread(target=lambda: seen.append(pdf.renderer()))
    thread.start()
    thread.join()
    assert seen[0] is not renderer  # a Pango font map is not shared between threads


def test_template_indentation_between_tags_is_dropped_but_not_a_space_between_words():
    from portal.pdf import _TEMPLATE_FORMATTING

    html = '<div>\n  <p>Subtotal, <b>acme</b> <span class="ref">#7</span></p>\n</div>'
    assert _TEMPLATE_FORMATTING.sub("><", html) == '<div><p>Subtotal, <b>acme</b> <span class="ref">#7</span></p></div>'
