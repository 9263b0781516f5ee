"""A populated portal for trying it out. Idempotent: running it again adds nothing twice.

Everything goes through the same services as the pages and the API: deployments are
requested and moved along the state machine, usage is ingested in batches, last month is
rolled up and issued. The month before it was issued a month ago, so the invoice list shows
every state of a customer's life: paid, part-paid and overdue, credited with an adjustment
note, and open; the outbox holds the mails they sent (no mail server in the demo). Without a
DigitalOcean token the demo provider is synced too: inventory, drift, balance and costs.
"""
from datetime import datetime, time, timedelta, timezone

from sqlalchemy import select

from ..billing.proration import month_start, previous_month_start
from ..clock import today
from ..extensions import db
from ..models import CreditNote, Deployment, Invoice, Payment
from ..models.tenancy import PLATFORM_ADMIN, TENANT_ADMIN, TENANT_VIEWER
from . import accounts, catalog, credit_notes, deployments, invoices, mail, payments, provider_sync, rollup, usage

DEMO_PASSWORD = "arcadia-demo"
DEMO_TENANTS = [
    {
        "slug": "acme",
        "name": "Acme AI",
        "billing_name": "Acme AI Pty Ltd",
        "billing_address": "Level 3, 12 Example Street\nSydney NSW 2000\nAustralia",
        "abn": "51 824 753 556",
        "billing_email": "accounts@acme.example.com",
    },
    {
        "slug": "globex",
        "name": "Globex Research",
        "billing_name": "Globex Research Pty Ltd",
        "billing_address": "88 Sample Road\nMelbourne VIC 3000\nAustralia",
        "abn": None,
        "billing_email": "billing@globex.example.com",
    },
]
DEMO_USERS = [
    ("admin@example.com", PLATFORM_ADMIN, None),
    ("alice@example.com", TENANT_ADMIN, "acme"),
    ("victor@example.com", TENANT_VIEWER, "acme"),
    ("gina@example.com", TENANT_ADMIN, "globex"),
]


# (tenant, name, region, plan addons, final state, droplets, tokens an hour, peak GB)
DEMO_DEPLOYMENTS = [
    ("acme", "llm-inference", "syd1", ["storage_50gb"], "active", 3, 2_000, 170),
    ("acme", "rag-search", "syd1", [], "active", 2, 500, 60),
    ("acme", "batch-jobs", "sgp1", None, "requested", 0, 0, 0),
    ("globex", "vision-lab", "sfo3", [], "suspended", 1, 0, 80),
]
PATH = {"active": ["provisioning", "active"], "suspended": ["provisioning", "active", "suspended"],
        "requested": []}


def load_demo() -> list[str]:
    """Seed the catalog, demo tenants, users, deployments, usage and invoices."""
    done = []
    catalog.seed_catalog()
    for spec in DEMO_TENANTS:
        if accounts.tenant_by_slug(spec["slug"]) is None:
            accounts.create_tenant(
                spec["slug"],
                spec["name"],
                billing_name=spec["billing_name"],
                billing_address=spec["billing_address"],
                abn=spec["abn"],
                billing_email=spec["billing_email"],
            )
            done.append(f"created tenant {spec['slug']}")
    for email, role, tenant in DEMO_USERS:
        if accounts.user_by_email(email) is None:
            accounts.create_user(email, role, DEMO_PASSWORD, tenant)
            done.append(f"created user {email} ({role})")
    done += _deployments_usage_and_invoices()
    if provider_sync.provider_name() == "demo":  # never talk to a real account from the demo
        report = provider_sync.sync()
        done += [f"synced the demo provider's {part}" for part, r in report.results.items() if r["ok"]]
    return done


def _deployments_usage_and_invoices() -> list[str]:
    done = []
    admin = accounts.user_by_email("admin@example.com")
    this_month = month_start(today())
    last_month = previous_month_start(this_month)
    starts_on = previous_month_start(last_month)  # subscribed two months back
    for slug, name, region, addons, state, droplets, tokens, peak in DEMO_DEPLOYMENTS:
        tenant = accounts.tenant_by_slug(slug)
        dep = db.session.scalar(select(Deployment).where(Deployment.tenant_id == tenant.id,
                                                         Deployment.name == name))
        if dep is None:
            dep = deployments.create_deployment(admin, {"tenant": slug, "name": name, "region": region})
            if addons is not None:
                deployments.subscribe(admin, dep.id, {"plan_code": "studio", "addons": addons,
                                                      "starts_on": starts_on.isoformat()})
            for to in PATH[state]:
                deployments.transition(admin, dep.id, {"to": to})
            done.append(f"created deployment {slug}/{name} ({state})")
        events = _hourly_usage(dep.id, last_month, datetime.now(timezone.utc), droplets, tokens, peak)
        for i in range(0, len(events), usage.MAX_BATCH):
            usage.ingest({"events": events[i:i + usage.MAX_BATCH]})
    two_months_back = previous_month_start(last_month)
    issued_then = last_month + timedelta(days=1)  # as if issued on the 2nd of last month
    done += _roll_up_and_issue(admin, two_months_back, last_month, issued_on=issued_then)
    done += _roll_up_and_issue(admin, last_month, this_month)
    done += _payments_and_credits(admin, two_months_back, last_month, issued_then)
    return done


def _roll_up_and_issue(admin, start, end, issued_on=None) -> list[str]:
    done = []
    result = rollup.roll_up_period(start, end, actor=admin)
    if result.created:
        done.append(f"created {result.created} invoices for {start:%B %Y}")
    drafts = db.session.scalars(select(Invoice).where(
        Invoice.period_start == start, Invoice.status == "draft").order_by(Invoice.id)).all()
    for invoice in drafts:
        invoice = invoices.transition_invoice(admin, invoice.id, {"to": "issued"})
        if issued_on is not None:
            # The demo's one liberty: an invoice issued a month ago, so that one can be overdue.
            invoice.issued_on = issued_on
            invoice.due_on = issued_on + timedelta(days=14)
            db.session.commit()
        done.append(f"issued invoice {invoice.number}")
    return done


def _invoice(slug: str, period_start) -> Invoice:
    tenant = accounts.tenant_by_slug(slug)
    return db.session.scalar(select(Invoice).where(
        Invoice.tenant_id == tenant.id, Invoice.period_start == period_start,
        Invoice.status != "void"))


def _payments_and_credits(admin, two_months_back, last_month, issued_then) -> list[str]:
    """Globex paid its older invoice in full, Acme only part of its (now overdue) one, and
    Acme's latest invoice was corrected with an adjustment note for an outage."""
    done = []
    older_globex, older_acme = _invoice("globex", two_months_back), _invoice("acme", two_months_back)
    latest_acme = _invoice("acme", last_month)
    if older_globex and not db.session.scalar(select(Payment.id).where(Payment.invoice_id == older_globex.id)):
        payments.record_payment(admin, older_globex.id, {
            "amount_cents": older_globex.amount_due_cents, "paid_on": (issued_then + timedelta(days=9)).isoformat(),
            "method": "bank_transfer", "reference": "EFT GLOBEX-0042"})
        done.append(f"recorded a full payment of {older_globex.number}")
    if older_acme and not db.session.scalar(select(Payment.id).where(Payment.invoice_id == older_acme.id)):
        payments.record_payment(admin, older_acme.id, {
            "amount_cents": older_acme.total_cents // 2, "paid_on": (issued_then + timedelta(days=12)).isoformat(),
            "method": "card", "reference": "Card ending 4242"})
        done.append(f"recorded a part payment of {older_acme.number}")
    if latest_acme and not db.session.scalar(select(CreditNote.id).where(CreditNote.invoice_id == latest_acme.id)):
        plan_line = next(line for line in latest_acme.lines if line.kind == "plan_base")
        note = credit_notes.issue_credit_note(admin, latest_acme.id, {
            "reason": "Service credit: llm-inference unavailable for 9 hours",
            "lines": [{"line_id": plan_line.id, "amount_cents": 1000}]})
        done.append(f"issued adjustment note {note.number} on {latest_acme.number}")
    run = mail.send_reminders(today())
    if run.queued:
        done.append(f"queued {run.queued} overdue reminder(s)")
    return done


def _hourly_usage(deployment_id: int, since, until: datetime, droplets: int, tokens: int, peak: int):
    """Hourly droplet hours and tokens, a Spaces reading every six hours, up to ``until``.
    Event ids are derived from the hour, so running the demo again adds nothing."""
    events = []
    hour = datetime.combine(since, time(), tzinfo=timezone.utc)
    n = 0
    while hour < until:
        stamp = hour.strftime("%Y-%m-%dT%H:00:00Z")
        if droplets:
            events.append({"event_id": f"demo:{deployment_id}:dh:{stamp}", "deployment_id": deployment_id,
                           "resource_kind": "droplet_hours", "quantity": droplets, "occurred_at": stamp})
        if tokens:
            events.append({"event_id": f"demo:{deployment_id}:tok:{stamp}", "deployment_id": deployment_id,
                           "resource_kind": "llm_tokens", "quantity": tokens + (n * 37) % 400,
                           "occurred_at": stamp})
        if peak and n % 6 == 0:
            events.append({"event_id": f"demo:{deployment_id}:gb:{stamp}", "deployment_id": deployment_id,
                           "resource_kind": "spaces_gb", "quantity": peak - (n // 6) % 20,
                           "occurred_at": stamp})
        hour += timedelta(hours=1)
        n += 1
    return events
