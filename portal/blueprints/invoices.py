"""Invoice pages, the rollup button with its progress, PDF downloads."""

from flask import Blueprint, Response, abort, flash, make_response, redirect, render_template, request, url_for

from ..auth import can, current_actor, requires
from ..billing.money import cents_from_text, format_cents
from ..clock import last_month, today
from ..errors import Conflict, ValidationError
from ..htmx import hx_problem, hx_status, is_htmx, problem_text, render_page_or_fragment
from ..models.invoices import INVOICE_STATES, INVOICE_TRANSITIONS
from ..models.payments import PAYMENT_METHODS
from ..queue import describe, fetch
from ..services import credit_notes, documents, invoices, mail, payments
from ..templating import money
from ..services import rollup as rollups
from ..listing import ListView

bp = Blueprint("invoices", __name__, url_prefix="/invoices")

ACTION_LABELS = {"issued": "Issue", "paid": "Mark paid", "void": "Void"}
# The payment and credit note forms' fields as their labels read (errors name them so).
FIELD_LABELS = {"amount_cents": "Amount", "paid_on": "Paid on", "method": "Method",
                "reference": "Reference", "reason": "Reason", "lines": "Amounts to credit",
                "refund": "Refund"}


def _filters(user) -> dict:
    filters = {"period": request.args.get("period") or None,
               "status": request.args.get("status") or None,
               "overdue": request.args.get("overdue") or None,
               "number_search": request.args.get("number") or None}
    if user.is_platform_admin:  # the search box: an exact slug, or a slug prefix
        filters["tenant_search"] = request.args.get("tenant") or None
    return filters


LIST = ListView("invoices.index", "invoices.summary", "invoices/index.html", "invoices/_rows.html",
                invoices.INVOICE_SORTS, invoices.invoice_query, invoices.list_totals, _filters,
                ("invoice", "invoices"), sums=(("total", "total"), ("due", "due")),
                events=("invoice-changed",))


@bp.get("/")
@requires("invoices.read")
def index():
    user = current_actor()
    return LIST.render(
        states=INVOICE_STATES if user.is_platform_admin else ("issued", "paid", "void"),
        default_period=last_month(), today=today())


@bp.get("/summary")
@requires("invoices.read")
def summary():
    return LIST.summary()


@bp.post("/rollup")
@requires("invoices.manage")
def rollup():
    period = request.form.get("period", "")
    force = request.form.get("force") == "on"
    try:
        done = rollups.request_rollup(period, force, current_actor())
    except ValidationError as exc:
        return hx_problem(make_response(render_template(
            "invoices/_rollup.html", error=exc.fields["period"], period=period), 422),
            problem_text(exc, "run the rollup", {"period": "Period"}))
    if done.inline:  # no worker: done already
        return _rollup_answer(period, result=done.result)
    return _rollup_answer(period, job=describe(fetch(done.job_id)))


@bp.get("/rollup/<job_id>")
@requires("jobs.read")
def rollup_progress(job_id):
    job = fetch(job_id)
    if job is None:
        abort(404)
    info = describe(job)
    return _rollup_answer((job.args or [""])[0], job=info,
                          result=info["result"] if info["status"] == "finished" else None)


def _rollup_answer(period: str, job: dict | None = None, result: dict | None = None):
    """The rollup's place on the page: its result, or a progress bar that polls itself. Once
    it is done the toast says so and the invoice list below refreshes ("invoices-changed");
    while it runs, nothing is announced (each poll would repeat it)."""
    response = make_response(render_template("invoices/_rollup.html", job=job, result=result,
                                             period=period))
    if result is not None:
        text = f"Rollup of {result['period']}: {result['created']} created, {result['skipped']} skipped"
        if result.get("rebuilt"):
            text += f", {result['rebuilt']} rebuilt"
            # A draft's own page (its "Rebuild" button) refreshes its parts too.
            return hx_status(response, text + ".", "invoices-changed", "invoice-changed")
        return hx_status(response, text + ".", "invoices-changed")
    if job is not None and job["status"] == "failed":
        return hx_problem(response, f"The rollup of {period} failed: {job['error']}")
    return response


@bp.get("/<int:invoice_id>")
@requires("invoices.read")
def show(invoice_id):
    invoice = invoices.get_invoice(current_actor(), invoice_id)
    return render_template("invoices/show.html", **_detail(invoice), **_money(invoice))


def _detail(invoice, error: str | None = None) -> dict:
    admin = can(current_actor(), "mail.read")
    # A draft that no longer bills what its month comes to (a subscription changed or usage
    # arrived since it was built) cannot be issued: say so, and offer the rebuild instead.
    stale = (invoice.status == "draft" and can(current_actor(), "invoices.manage")
             and not rollups.draft_is_current(invoice))
    return {
        "stale": stale,
        "invoice": invoice,
        "groups": invoices.grouped_lines(invoice),
        # Money against it: the way back is a credit note, so Void is not offered.
        "actions": [(to, ACTION_LABELS[to]) for to in INVOICE_TRANSITIONS[invoice.status]
                    if not (to == "void" and (invoice.amount_paid_cents or invoice.amount_credited_cents
                                              or invoice.credit_applied_cents))
                    and not (to == "issued" and stale)],
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
        "field_labels": _field_labels(invoice),
    }


def _field_labels(invoice) -> dict[str, str]:
    return FIELD_LABELS | {f"line_{line.id}": line.description for line in invoice.lines}


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
        money_part = _money(invoice, payment_errors=exc.fields or {"amount_cents": exc.message},
                            payment_form=form)
        if is_htmx():
            return _money_answer(invoice, money_part, exc, "record the payment")
        return render_template("invoices/show.html", **_detail(invoice), **money_part), exc.status
    invoice = invoices.get_invoice(user, invoice_id)
    due = payments.amount_due_cents(invoice)
    done = (f"Payment of {money(cents, invoice.currency)} recorded on {invoice.number}; "
            + (f"{money(due, invoice.currency)} still due." if due else "it is paid in full."))
    if is_htmx():
        return _money_answer(invoice, _money(invoice), None, done)
    flash(done, "ok")
    return redirect(url_for("invoices.show", invoice_id=invoice_id), 303)


def _money_answer(invoice, money_part: dict, exc, message: str):
    """An HTMX payment or credit note: the money part in place (its form's errors, or fresh
    with the new row), the message in the toast; on success the header (status, paid, due)
    and the messages refresh themselves on "invoice-changed"."""
    response = make_response(render_template("invoices/_money.html", invoice=invoice, **money_part))
    if exc is not None:
        # htmx swaps 2xx and 422: a conflict is answered 200 with its message on the form.
        response.status_code = 200 if exc.status == 409 else exc.status
        return hx_problem(response, problem_text(exc, message, money_part["field_labels"]))
    return hx_status(response, message, "invoice-changed", "invoices-changed")


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
        money_part = _money(invoice, credit_errors=fields, credit_form=form)
        if is_htmx():  # the toast names the form's fields (line_<id>), as the form does
            shown = ValidationError(fields) if isinstance(exc, ValidationError) else exc
            return _money_answer(invoice, money_part, shown, "issue the credit note")
        return render_template("invoices/show.html", **_detail(invoice), **money_part), exc.status
    done = f"Credit note {note.number} issued for {money(note.total_cents, note.currency)}."
    if is_htmx():  # stays on the invoice: the note joins its list, the header its credited sum
        invoice = invoices.get_invoice(user, invoice_id)
        return _money_answer(invoice, _money(invoice), None, done)
    flash(done, "ok")
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
        # The header swaps in place, an error shown inside it (htmx swaps 2xx and 422: a
        # conflict is answered 200). Payments, credit notes, their forms and the messages
        # (issuing has just queued an email) refresh themselves on "invoice-changed".
        response = make_response(render_template("invoices/_header.html", **_detail(invoice, error)),
                                 200 if status == 409 else status)
        if error:
            return hx_problem(response, error)
        done = {"issued": f"Invoice {invoice.number} issued.", "paid": f"Invoice {invoice.number} marked paid.",
                "void": f"Invoice {invoice.number or invoice.id} voided."}[invoice.status]
        return hx_status(response, done, "invoice-changed", "invoices-changed")
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
