"""Invoice pages, the rollup button with its progress, PDF downloads."""

from flask import Blueprint, Response, abort, flash, make_response, redirect, render_template, request, url_for

from ..auth import can, current_actor, requires
from ..billing.money import cents_from_text, format_cents
from ..clock import last_month, today
from ..errors import Conflict, ValidationError
from ..htmx import hx_status, is_htmx, render_page_or_fragment
from ..models.invoices import INVOICE_STATES, INVOICE_TRANSITIONS
from ..models.payments import PAYMENT_METHODS
from ..queue import describe, fetch
from ..services import credit_notes, documents, invoices, mail, payments
from ..templating import money
from ..services import rollup as rollups
from ..services.paging import keyset_list_page

bp = Blueprint("invoices", __name__, url_prefix="/invoices")

ACTION_LABELS = {"issued": "Issue", "paid": "Mark paid", "void": "Void"}


@bp.get("/")
@requires("invoices.read")
def index():
    user = current_actor()
    filters = {"period": request.args.get("period") or None,
               "status": request.args.get("status") or None,
               "overdue": request.args.get("overdue") or None}
    if user.is_platform_admin:  # the search box: an exact slug, or a slug prefix
        filters["tenant_search"] = request.args.get("tenant") or None
    page = keyset_list_page("invoices.index", invoices.INVOICE_ORDER, invoices.list_invoices,
                            user, filters)
    return render_page_or_fragment(
        "invoices/index.html", "invoices/_rows.html", invoices=page.pop("rows"), **page,
        states=INVOICE_STATES if user.is_platform_admin else ("issued", "paid", "void"),
        default_period=last_month(), today=today())


@bp.post("/rollup")
@requires("invoices.manage")
def rollup():
    period = request.form.get("period", "")
    force = request.form.get("force") == "on"
    try:
        done = rollups.request_rollup(period, force, current_actor())
    except ValidationError as exc:
        return render_template("invoices/_rollup.html", error=exc.fields["period"],
                               period=period), 422
    if done.inline:
        return render_template("invoices/_rollup.html", result=done.result, period=period)
    return render_template("invoices/_rollup.html", job=describe(fetch(done.job_id)), period=period)


@bp.get("/rollup/<job_id>")
@requires("jobs.read")
def rollup_progress(job_id):
    job = fetch(job_id)
    if job is None:
        abort(404)
    info = describe(job)
    return render_template("invoices/_rollup.html", job=info,
                           result=info["result"] if info["status"] == "finished" else None,
                           period=(job.args or [""])[0])


@bp.get("/<int:invoice_id>")
@requires("invoices.read")
def show(invoice_id):
    invoice = invoices.get_invoice(current_actor(), invoice_id)
    return render_template("invoices/show.html", **_detail(invoice), **_money(invoice))


def _detail(invoice, error: str | None = None) -> dict:
    admin = can(current_actor(), "mail.read")
    return {
        "invoice": invoice,
        "groups": invoices.grouped_lines(invoice),
        # Money against it: the way back is a credit note, so Void is not offered.
        "actions": [(to, ACTION_LABELS[to]) for to in INVOICE_TRANSITIONS[invoice.status]
                    if not (to == "void" and (invoice.amount_paid_cents or invoice.amount_credited_cents
                                              or invoice.credit_applied_cents))],
        "error": error,
        # Admins see every email about the invoice: to, subject, status, when, why not.
        "messages": mail.messages_for_invoice(invoice.id) if admin else None,
        "body_visible": mail.body_visible,
        "amount_due": payments.amount_due_cents(invoice),
        "overdue": payments.is_overdue(invoice),
    }


def _money(invoice, payment_errors=None, payment_form=None, credit_errors=None,
           credit_form=None) -> dict:
    """Payments, credit notes and credit applied on the invoice page, with the admin forms."""
    _, rows = payments.list_payments(current_actor(), invoice.id)
    return {
        "payments": rows,
        "credit_notes": credit_notes.for_invoice(invoice),
        "allocations": payments.allocations_for(invoice),
        "methods": PAYMENT_METHODS,
        "creditable": _creditable(invoice),
        "payment_errors": payment_errors or {}, "payment_form": payment_form or {},
        "credit_errors": credit_errors or {}, "credit_form": credit_form or {},
        "today": today().isoformat(),
        "amount_due_text": format_cents(payments.amount_due_cents(invoice)).replace(",", ""),
    }


def _creditable(invoice):
    """(line, cents still creditable) for each non-tax line."""
    done = credit_notes.credited_by_line(invoice.id)
    return [(line, line.amount_cents - done[line.id]) for line in invoice.lines if line.kind != "tax"]


def _form_cents(raw: str | None, field: str, errors: dict) -> int | None:
    cents = cents_from_text(raw or "")
    if cents is None:
        errors[field] = "must be an amount such as 43.25"
    return cents


@bp.post("/<int:invoice_id>/payments")
@requires("invoices.read")  # 404 for what the user may not see comes before 403
def record_payment(invoice_id):
    user = current_actor()
    invoice = invoices.get_invoice(user, invoice_id)
    form = request.form.to_dict()
    errors: dict[str, str] = {}
    try:
        cents = _form_cents(form.get("amount"), "amount_cents", errors)
        if errors:
            raise ValidationError(errors)
        payments.record_payment(user, invoice_id, {
            "amount_cents": cents, "paid_on": form.get("paid_on", ""),
            "method": form.get("method", ""), "reference": form.get("reference") or None})
    except (Conflict, ValidationError) as exc:
        invoice = invoices.get_invoice(user, invoice_id)
        return render_template("invoices/show.html", **_detail(invoice),
                               **_money(invoice, payment_errors=exc.fields or {"amount_cents": exc.message},
                                        payment_form=form)), exc.status
    flash(f"Payment of {money(cents, invoice.currency)} recorded.", "ok")
    return redirect(url_for("invoices.show", invoice_id=invoice_id), 303)


@bp.post("/<int:invoice_id>/credit-notes")
@requires("invoices.read")
def issue_credit_note(invoice_id):
    user = current_actor()
    invoice = invoices.get_invoice(user, invoice_id)
    form = request.form.to_dict()
    errors: dict[str, str] = {}
    lines = []
    for line in invoice.lines:
        raw = (form.get(f"line_{line.id}") or "").strip()
        if line.kind == "tax" or not raw or raw in ("0", "0.00"):
            continue
        cents = _form_cents(raw, f"line_{line.id}", errors)
        lines.append({"line_id": line.id, "amount_cents": cents})
    try:
        if errors:
            raise ValidationError(errors)
        note = credit_notes.issue_credit_note(user, invoice_id, {
            "reason": form.get("reason", ""), "lines": lines, "refund": form.get("refund") == "on"})
    except (Conflict, ValidationError) as exc:
        invoice = invoices.get_invoice(user, invoice_id)
        fields = {_line_field(k, lines): v for k, v in exc.fields.items()} or {"lines": exc.message}
        return render_template("invoices/show.html", **_detail(invoice),
                               **_money(invoice, credit_errors=fields, credit_form=form)), exc.status
    flash(f"Credit note {note.number} issued for {money(note.total_cents, note.currency)}.", "ok")
    return redirect(url_for("credit_notes.show", credit_note_id=note.id), 303)


def _line_field(key: str, lines: list[dict]) -> str:
    """``lines[1].amount_cents`` → the form's ``line_<id>`` field it came from."""
    if key.startswith("lines[") and "]" in key:
        index = key[6:key.index("]")]
        if index.isdigit() and int(index) < len(lines):
            return f"line_{lines[int(index)]['line_id']}"
    return key


@bp.post("/<int:invoice_id>/transition")
@requires("invoices.read")  # 404 for what the user may not see comes before 403
def transition(invoice_id):
    user = current_actor()
    try:
        invoice = invoices.transition_invoice(user, invoice_id, {"to": request.form.get("to")})
        error, status = None, 200
    except (Conflict, ValidationError) as exc:
        invoice = invoices.get_invoice(user, invoice_id)
        error, status = exc.message, exc.status
    if is_htmx():
        # The header swaps in place; an error is shown inside it (htmx swaps 2xx and 422).
        # Payments, credit notes and their forms follow out of band (issuing or marking paid
        # changes them too), and so do the messages: issuing has just queued an email.
        detail = _detail(invoice, error)
        html = render_template("invoices/_header.html", **detail)
        if not error:
            html += render_template("invoices/_money.html", oob=True, **_detail(invoice),
                                    **_money(invoice))
        if detail["messages"] is not None:
            html += render_template("invoices/_messages.html", oob=True, **detail)
        response = make_response(html, 200 if status == 409 else status)
        if not error:
            done = {"issued": f"Invoice {invoice.number} issued.", "paid": f"Invoice {invoice.number} marked paid.",
                    "void": f"Invoice {invoice.number or invoice.id} voided."}[invoice.status]
            hx_status(response, done, "invoice-changed")
        return response
    if error:
        return render_template("invoices/show.html", **_detail(invoice, error), **_money(invoice)), status
    return redirect(url_for("invoices.show", invoice_id=invoice.id), 303)


@bp.get("/<int:invoice_id>/pdf")
@requires("invoices.read")
def pdf(invoice_id):
    invoice, content = documents.pdf_for(current_actor(), invoice_id)
    disposition = "inline" if request.args.get("view") else "attachment"
    return Response(content, mimetype="application/pdf", headers={
        "Content-Disposition": f'{disposition}; filename="{documents.filename(invoice)}"'})
