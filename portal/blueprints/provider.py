"""Provider pages: inventory, drift, costs, cost against revenue (platform admins).

Every page shows what the last sync stored; none of them talks to the provider.
"""
import logging
from datetime import date

from flask import Blueprint, flash, make_response, redirect, render_template, request, url_for
from markupsafe import Markup

from ..auth import current_actor, requires
from ..billing.proration import month_start
from ..billing.svg_chart import NARROW, WIDE, bar_chart
from ..clock import last_month, today
from ..errors import Conflict, ValidationError
from ..extensions import db
from ..htmx import hx_problem, hx_status, is_htmx, render_page_or_fragment
from ..listing import ListView
from ..queue import describe, enqueue, fetch
from ..services import cost_import, deployments, provider, provider_sync
from ..services.dashboard import cost_vs_revenue
from ..services.invoices import parse_period

bp = Blueprint("provider", __name__, url_prefix="/provider")
log = logging.getLogger(__name__)

CLOSED_DRIFT_SHOWN = 20


def _period_arg() -> tuple[str, date | None, dict]:
    """The ``period`` query argument (default last month) → (text, first day or None, errors)."""
    text = request.args.get("period") or last_month()
    try:
        return text, parse_period(text)[0], {}
    except ValidationError as exc:
        return text, None, exc.fields


def _chrome(tab: str) -> dict:
    """What every provider page shows above its body: the demo banner and the sync status."""
    return {"tab": tab, "provider_name": provider_sync.provider_name(),
            "runs": provider.last_runs()}


@bp.get("/")
@requires("provider.read")
def index():
    return redirect(url_for("provider.inventory"))


# --- inventory and sync ------------------------------------------------------------------


def _inventory_filters(user) -> dict:
    return {"include_vanished": request.args.get("vanished") == "1",
            "search": request.args.get("q") or None}


INVENTORY = ListView("provider.inventory", "provider.inventory_summary", "provider/inventory.html",
                     "provider/_inventory_rows.html", provider.INVENTORY_SORTS,
                     provider.inventory_page_query, provider.inventory_totals, _inventory_filters,
                     ("resource", "resources"))
bp.add_app_template_global(deployments.deployment_names, "deployment_names")


@bp.get("/inventory")
@requires("provider.read")
def inventory():
    return INVENTORY.render(show_vanished=request.args.get("vanished") == "1",
                            **_chrome("inventory"))


@bp.get("/inventory/summary")
@requires("provider.read")
def inventory_summary():
    return INVENTORY.summary()


@bp.post("/sync")
@requires("provider.manage")
def sync():
    try:
        done = enqueue("portal.jobs.provider.sync_all")
    except Exception as exc:  # e.g. Redis unreachable: say so in place, never a bare 500
        db.session.rollback()
        log.exception("could not start the provider sync")
        return _sync_answer(error=f"{type(exc).__name__}: {exc}")
    if done.inline:
        return _sync_answer(result=done.result)
    return _sync_answer(job=_describe(done.job_id))


@bp.get("/sync/<job_id>")
@requires("provider.read")
def sync_progress(job_id):
    try:
        info = _describe(job_id)
    except Exception as exc:
        log.exception("could not read the provider sync job %s", job_id)
        return _sync_answer(error=f"{type(exc).__name__}: {exc}")
    if info is None:
        # 200 for HTMX, so the polling element is replaced and stops polling.
        return _sync_answer(error="that sync job is no longer known", status=200 if is_htmx() else 404)
    return _sync_answer(job=info, result=info["result"] if info["status"] == "finished" else None)


def sync_summary(result: dict) -> tuple[str, bool]:
    """One line for the toast: "Synced from the demo provider: inventory ok, billing ok."
    and whether every part succeeded."""
    source = "the demo provider" if result.get("provider") == "demo" else "DigitalOcean"
    parts = [f"{part} ok" if outcome["ok"] else f"{part} failed ({outcome['error']}; the last good data is kept)"
             for part, outcome in result["results"].items()]
    return f"Synced from {source}: {', '.join(parts)}.", all(o["ok"] for o in result["results"].values())


def _announce_sync(response, context: dict):
    """Once the sync has run (inline, or the last poll of its job) the toast says how it went
    and every table on the page fetches itself again ("provider-synced"); a sync that could
    not run says why. While the job runs, the polls announce nothing."""
    if context.get("error"):
        return hx_problem(response, f"The sync could not run: {context['error']}")
    if context.get("result"):
        text, ok = sync_summary(context["result"])
        return hx_status(response, text, "provider-synced", tone="ok" if ok else "bad")
    job = context.get("job")
    if job and job["status"] == "failed":
        return hx_problem(response, f"The sync job failed: {job['error']}")
    return response


def _describe(job_id: str) -> dict | None:
    job = fetch(job_id)
    return describe(job) if job is not None else None


def _back_url() -> str:
    """The page the sync was started from (htmx names it), else the inventory."""
    here = request.headers.get("HX-Current-URL") or request.referrer or ""
    return here if here.startswith(request.host_url) else url_for("provider.inventory")


def _sync_answer(status: int = 200, **context):
    if is_htmx():
        response = make_response(render_template("provider/_sync.html", **context), status)
        return _announce_sync(response, context)
    # Without JavaScript the button is a plain form: say what happened on the page it came from.
    if context.get("error"):
        flash(f"The sync could not run: {context['error']}", "error")
    elif context.get("result"):
        for part, outcome in context["result"]["results"].items():
            flash(f"{part.capitalize()} sync: ok" if outcome["ok"]
                  else f"{part.capitalize()} sync failed: {outcome['error']}",
                  "ok" if outcome["ok"] else "error")
    elif context.get("job"):
        flash(f"Sync queued as job {context['job']['id']}: the provider pages show its data once a worker has run it.", "ok")
    return redirect(_back_url(), 303)


# --- drift -------------------------------------------------------------------------------


@bp.get("/drift")
@requires("provider.read")
def drift():
    open_items = provider.drift_items("open")
    closed = provider.recently_closed_drift(CLOSED_DRIFT_SHOWN)
    names = deployments.deployment_names(i.deployment_id for i in open_items + closed)
    return render_template("provider/drift.html", open_items=open_items, closed=closed,
                           names=names, **_chrome("drift"))


@bp.post("/drift/<int:drift_id>/accept")
@requires("provider.manage")
def accept_drift(drift_id):
    error = None
    try:
        item = provider.accept_drift(current_actor(), drift_id)
    except Conflict as exc:  # NotFound goes to the error handler (404)
        error = exc.message
        item = provider.get_drift(drift_id)
    if not is_htmx():
        flash(error or f"Drift item {drift_id} accepted.", "error" if error else "ok")
        return redirect(url_for("provider.drift"), 303)
    # htmx swaps 2xx and 422 only: a conflict comes back as 200 with its message in the row.
    # The row changes in place; the Open and Recently closed tables then fetch themselves
    # again ("drift-changed"), so the item leaves one for the other.
    response = make_response(render_template("provider/_drift_row.html", item=item, error=error,
                                             names=deployments.deployment_names([item.deployment_id])))
    if error:
        return hx_problem(response, f"Could not accept drift item {drift_id}: {error}")
    return hx_status(response, f"Drift item {drift_id} accepted.", "drift-changed")


# --- costs -------------------------------------------------------------------------------


def _costs_page(period_text: str, start: date | None, errors: dict, import_errors: dict,
                import_period: str, status: int):
    lines = provider.cost_lines(start) if start else []
    totals: dict[str, int] = {}
    for line in lines:
        totals[line.currency] = totals.get(line.currency, 0) + line.amount_cents
    return render_template(
        "provider/costs.html", period=period_text, period_start=start, errors=errors,
        balance=provider.latest_balance(), lines=lines, totals=totals,
        sources=sorted({line.source for line in lines}),
        names=deployments.deployment_names(line.deployment_id for line in lines),
        import_errors=import_errors, import_period=import_period, **_chrome("costs")), status


@bp.get("/costs")
@requires("provider.read")
def costs():
    text, start, errors = _period_arg()
    return _costs_page(text, start, errors, {}, text if start else last_month(),
                       422 if errors else 200)


@bp.post("/costs/import")
@requires("provider.manage")
def import_costs():
    period = request.form.get("period", "").strip()
    upload = request.files.get("file")
    filename = (upload.filename or "").replace("\\", "/").rsplit("/", 1)[-1] if upload else ""
    try:
        if not filename:
            raise ValidationError({"file": "choose the invoice CSV to import"})
        # One byte over the limit is enough for the service to refuse it.
        content = upload.read(cost_import.MAX_BYTES + 1)
        count = cost_import.import_invoice_csv(current_actor(), period, filename, content)
    except ValidationError as exc:
        try:
            start = parse_period(period)[0]
            shown = period
        except ValidationError:
            start, shown = parse_period(last_month())[0], last_month()
        return _costs_page(shown, start, {}, exc.fields, period, 422)
    start = parse_period(period)[0]
    flash(f"Imported {count} line{'' if count == 1 else 's'} from {filename} for {start:%B %Y}", "ok")
    return redirect(url_for("provider.costs", period=period), 303)


# --- cost against revenue ------------------------------------------------------------------


@bp.get("/dashboard")
@requires("provider.read")
def dashboard():
    text, start, errors = _period_arg()
    context = {"period": text, "errors": errors, "board": None, "chart": None}
    if start is not None:
        board = cost_vs_revenue(start)
        labels = {row.key: _deployment_label(row.key, board.names) for row in board.report.by_deployment}
        groups = [(labels[row.key], row.revenue_cents, row.cost_cents)
                  for row in board.report.by_deployment]
        title = f"Revenue and cost by deployment, {start:%B %Y}"
        # Both layouts; the stylesheet shows the narrow one on phones, where the wide one's
        # text would shrink to half its size.
        chart = "\n".join(bar_chart(groups, title=title, currency=board.currency, layout=layout)
                          for layout in (WIDE, NARROW))
        context.update(board=board, labels=labels, chart=Markup(chart),
                       in_progress=start >= month_start(today()))  # noqa: S704 (escaped inside)
    if not is_htmx():
        context.update(_chrome("dashboard"))
    return render_page_or_fragment("provider/dashboard.html", "provider/_dashboard.html",
                                   status=422 if errors else 200, **context)


def _deployment_label(key, names: dict) -> str:
    if key is None:
        return "unattributed"
    return names.get(key, f"deployment #{key}")
