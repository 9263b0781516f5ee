"""Outgoing email: record every message, deliver it on the worker, remind overdue invoices.

``queue_message`` writes the message's row in the caller's transaction; the caller calls
``dispatch()`` once that transaction is committed, which queues one delivery job per message
(run inline without Redis). ``deliver`` (the job) sends it at most once: it checks the row's
status under a row lock, and records ``sent``, ``not_sent`` (no mail server), or the error
(retried by RQ after ``RETRY_SECONDS``, ``failed`` after the last attempt). A mail server
that is down never blocks or undoes what queued the message.

Attachments are recorded as references (``{"filename", "document", "id"}``) and built when
sent, by the builder ``ATTACHMENT_BUILDERS[document]`` names: the PDF is rendered on the
worker, not in the request that queued the mail.
"""
import importlib
import smtplib
from dataclasses import dataclass, field
from datetime import date, timedelta
from email.utils import parseaddr
from typing import Any, Sequence

from flask import current_app, render_template
from rq import get_current_job
from sqlalchemy import Select, event, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .. import mailer
from ..clock import utcnow
from ..extensions import db
from ..models import Invoice, MailMessage, Tenant
from ..models.invoices import ISSUED
from ..models.mail import (
    CREDIT_NOTE_ISSUED,
    FAILED,
    FINAL_STATES,
    INVITATION,
    INVOICE_ISSUED,
    NOT_SENT,
    PASSWORD_RESET,
    QUEUED,
    REMINDER,
    SENT,
    SKIPPED,
)
from ..queue import MESSAGES, enqueue
from .paging import PER_PAGE, Sorts, page_of, totals

DELIVER_JOB = "portal.jobs.mail.deliver"
RETRY_SECONDS = (30, 120, 600, 1800)  # then the message is marked failed
NO_MAIL_SERVER = "no mail server configured (MAIL_SERVER is unset)"

# document name → "module:function" taking the referenced id and returning the file's bytes.
# A credit note's PDF is one more line here.
ATTACHMENT_BUILDERS = {
    "invoice_pdf": "portal.services.mail:invoice_pdf",
    "credit_note_pdf": "portal.services.mail:credit_note_pdf",
}
# Mails carrying a sign-in link: their body is shown in the outbox only when it could not
# have reached anyone (no mail server: the demo), never once it went out.
SENSITIVE_KINDS = (INVITATION, PASSWORD_RESET)

_PENDING = "mail_pending"  # ids queued in this session, dispatched after its commit


@event.listens_for(Session, "after_rollback")
def _forget_rolled_back(session: Session) -> None:
    # Rows queued in a transaction that was rolled back do not exist: nothing to dispatch.
    session.info.pop(_PENDING, None)


# --- queueing -----------------------------------------------------------------------------


def attachment_ref(filename: str, document: str, ref_id: int) -> dict:
    """A reference to a file built when the mail is sent, e.g. ``("ARC-1.pdf", "invoice_pdf", 7)``."""
    if document not in ATTACHMENT_BUILDERS:
        raise KeyError(f"no attachment builder {document!r}")
    return {"filename": filename, "document": document, "id": ref_id}


def queue_message(to: str | None, subject: str, body: str, kind: str, *,
                  invoice_id: int | None = None, tenant_id: int | None = None,
                  attachments: Sequence[dict] = (), stage: int | None = None,
                  not_sent_reason: str | None = None) -> MailMessage:
    """Record a message in the caller's transaction (flushed, not committed). Without an
    address, or with ``not_sent_reason``, it is recorded as not sent and nothing is queued.
    After committing, the caller calls ``dispatch()`` to queue its delivery."""
    if not to and not not_sent_reason:
        not_sent_reason = "no email address to send it to"
    message = _record(to, subject, body, kind, NOT_SENT if not_sent_reason else QUEUED,
                      not_sent_reason, invoice_id=invoice_id, tenant_id=tenant_id,
                      attachments=attachments, stage=stage)
    if message.status == QUEUED:
        db.session.info.setdefault(_PENDING, []).append(message.id)
    return message


def _record(to, subject, body, kind, status, error, *, invoice_id=None, tenant_id=None,
            attachments=(), stage=None) -> MailMessage:
    message = MailMessage(
        kind=kind, to_address=to or None, subject=subject, body=body,
        attachments=[dict(a) for a in attachments], invoice_id=invoice_id, tenant_id=tenant_id,
        stage=stage, status=status, error=error, attempts=0,
    )
    db.session.add(message)
    db.session.flush()
    return message


def queue_document_email(kind: str, to: str | None, subject: str, body: str, *,
                         attachment: tuple[str, str, int], invoice_id: int | None = None,
                         tenant_id: int | None = None, stage: int | None = None,
                         not_sent_reason: str | None = None) -> MailMessage:
    """A mail carrying one document, ``(filename, document, id)`` (see ``ATTACHMENT_BUILDERS``)."""
    return queue_message(to, subject, body, kind, invoice_id=invoice_id, tenant_id=tenant_id,
                         attachments=[attachment_ref(*attachment)], stage=stage,
                         not_sent_reason=not_sent_reason)


def dispatch() -> int:
    """Queue the delivery of every message recorded in this session; call it after the commit.
    Never raises: a queue or mail server that is down must not fail what was committed (the
    message stays recorded as queued, or failed with the error)."""
    ids = db.session.info.pop(_PENDING, [])
    for message_id in ids:
        try:
            enqueue(DELIVER_JOB, message_id, queue_name=MESSAGES, retry=list(RETRY_SECONDS),
                    timeout=300)
        except Exception:
            current_app.logger.exception("could not deliver or queue email message %s", message_id)
            db.session.rollback()
    return len(ids)


STALE_AFTER = timedelta(hours=2)  # longer than every retry delay together (about 43 min)


def requeue_stale(now=None) -> int:
    """Queue again every message still ``queued`` long after its last retry was due: its
    delivery job was lost (Redis was down when it was queued, or the job was dropped).
    Harmless if the job still exists: delivery sends a message at most once."""
    cutoff = (now or utcnow()) - STALE_AFTER
    ids = db.session.scalars(select(MailMessage.id).where(
        MailMessage.status == QUEUED, MailMessage.created_at < cutoff).order_by(MailMessage.id)).all()
    db.session.info.setdefault(_PENDING, []).extend(ids)
    return dispatch()


def _recipient(tenant: Tenant) -> tuple[str | None, str | None]:
    """The tenant's billing email, or why there is none."""
    if tenant.billing_email:
        return tenant.billing_email, None
    return None, f"tenant {tenant.slug} has no billing email"


def _invoice_context(invoice: Invoice, tenant: Tenant) -> dict:
    config = current_app.config
    parties = invoice.parties or {}
    return {"invoice": invoice, "seller": config["SELLER_NAME"],
            "seller_email": config["SELLER_EMAIL"],
            "bill_to": (parties.get("bill_to") or {}).get("name") or tenant.billing_name}


def invoice_filename(invoice: Invoice) -> str:
    from .documents import filename

    return filename(invoice)


def queue_invoice_issued(invoice: Invoice) -> MailMessage:
    """Issuing emails the tenant its tax invoice, the PDF attached (rendered when sent)."""
    tenant = db.session.get(Tenant, invoice.tenant_id)
    to, why_not = _recipient(tenant)
    context = _invoice_context(invoice, tenant)
    subject = f"Tax invoice {invoice.number} from {context['seller']}"
    body = render_template("mail/invoice_issued.txt", **context)
    return queue_document_email(
        INVOICE_ISSUED, to, subject, body, invoice_id=invoice.id, tenant_id=tenant.id,
        attachment=(invoice_filename(invoice), "invoice_pdf", invoice.id), not_sent_reason=why_not)


def queue_credit_note_issued(note) -> MailMessage:
    """Issuing a credit note emails the tenant its adjustment note, the PDF attached."""
    from .documents import credit_note_filename

    invoice = db.session.get(Invoice, note.invoice_id)
    tenant = db.session.get(Tenant, note.tenant_id)
    to, why_not = _recipient(tenant)
    context = {**_invoice_context(invoice, tenant), "note": note}
    subject = f"Adjustment note {note.number} for tax invoice {invoice.number} from {context['seller']}"
    body = render_template("mail/credit_note_issued.txt", **context)
    return queue_document_email(
        CREDIT_NOTE_ISSUED, to, subject, body, invoice_id=invoice.id, tenant_id=tenant.id,
        attachment=(credit_note_filename(note), "credit_note_pdf", note.id), not_sent_reason=why_not)


def credit_note_pdf(credit_note_id: int) -> bytes:
    from ..models import CreditNote
    from .documents import render_credit_note_pdf

    return render_credit_note_pdf(db.session.get(CreditNote, credit_note_id))


def invoice_pdf(invoice_id: int) -> bytes:
    """The invoice's PDF as it stands (the stored one when current, else rendered now)."""
    from .documents import render_and_store

    return render_and_store(invoice_id).content


# --- delivery (the job) -------------------------------------------------------------------


def deliver(message_id: int) -> dict:
    """Send one recorded message, at most once. On the worker, an SMTP or connection error is
    recorded and raised so RQ retries; the last attempt (and inline, the only one) records
    ``failed`` and returns."""
    config = current_app.config
    message = db.session.get(MailMessage, message_id, populate_existing=True)
    if message is None:  # its transaction was rolled back: nothing to send
        return {"id": message_id, "status": None}
    if message.status in FINAL_STATES:
        return _outcome(message)
    if not config.get("MAIL_SERVER"):
        return _finish(message_id, NOT_SENT, NO_MAIL_SERVER)
    why_not = _no_longer_due(message)
    if why_not:
        return _finish(message_id, NOT_SENT, why_not)

    job = get_current_job()
    last_attempt = job is None or not job.retries_left
    try:
        # Built before the row lock is taken: rendering a PDF may commit.
        files = [_build(item) for item in message.attachments]
    except Exception as exc:
        current_app.logger.exception("could not build the attachments of message %s", message_id)
        db.session.rollback()
        return _attempt_failed(message_id, f"could not build an attachment: {exc}", last_attempt)

    locked = _locked(message_id)
    if locked.status in FINAL_STATES:  # another delivery got there first
        db.session.rollback()
        return _outcome(locked)
    why_not = _no_longer_due(locked)  # again: the attachments took a while
    if why_not:
        locked.status, locked.error = NOT_SENT, why_not
        db.session.commit()
        return _outcome(locked)
    try:
        email = mailer.build(config, locked.to_address, locked.subject, locked.body, files,
                             message_id=_message_id_header(locked, config))
    except (ValueError, TypeError) as exc:  # e.g. an address no header can carry: for good
        db.session.rollback()
        return _attempt_failed(message_id, f"not a sendable message: {exc}", last_attempt=True)
    try:
        mailer.send(config, email)
    except mailer.PermanentFailure as exc:
        db.session.rollback()
        return _attempt_failed(message_id, str(exc), last_attempt=True)
    except (OSError, smtplib.SMTPException) as exc:
        db.session.rollback()
        return _attempt_failed(message_id, _describe(exc, config), last_attempt)
    locked.attempts += 1
    locked.status, locked.sent_at, locked.error = SENT, utcnow(), None
    db.session.commit()
    return _outcome(locked)


class DeliveryFailed(Exception):
    """Raised on the worker after recording a failed attempt, so that RQ retries the job."""


def _attempt_failed(message_id: int, error: str, last_attempt: bool) -> dict:
    locked = _locked(message_id)
    if locked.status in FINAL_STATES:
        db.session.rollback()
        return _outcome(locked)
    locked.attempts += 1
    locked.error = error
    locked.status = FAILED if last_attempt else QUEUED
    db.session.commit()
    if not last_attempt:
        raise DeliveryFailed(f"message {message_id}: {error} (attempt {locked.attempts}; retrying)")
    return _outcome(locked)


def _finish(message_id: int, status: str, error: str | None) -> dict:
    locked = _locked(message_id)
    if locked.status not in FINAL_STATES:
        locked.status, locked.error = status, error
    db.session.commit()
    return _outcome(locked)


def _locked(message_id: int) -> MailMessage:
    return db.session.scalar(
        select(MailMessage).where(MailMessage.id == message_id).with_for_update()
        .execution_options(populate_existing=True))


def _outcome(message: MailMessage) -> dict:
    return {"id": message.id, "status": message.status, "attempts": message.attempts,
            "error": message.error}


def _build(item: dict) -> mailer.Attachment:
    module, name = ATTACHMENT_BUILDERS[item["document"]].split(":")
    content = getattr(importlib.import_module(module), name)(item["id"])
    return mailer.Attachment(item["filename"], content)


def _no_longer_due(message: MailMessage) -> str | None:
    """A reminder whose invoice was settled or voided since it was queued is not sent."""
    if message.kind == REMINDER and message.invoice_id is not None:
        invoice = db.session.get(Invoice, message.invoice_id, populate_existing=True)
        if _owed_cents(invoice) <= 0:
            return f"invoice {invoice.number} is {invoice.status} now: no reminder needed"
    return None


def _message_id_header(message: MailMessage, config) -> str:
    # The same on every attempt, so a receiver can tell a repeat from a new message.
    domain = parseaddr(mailer.sender(config))[1].rpartition("@")[2] or "arcadia.invalid"
    return f"<arcadia.{message.id}.{int(message.created_at.timestamp())}@{domain}>"


def _describe(exc: Exception, config) -> str:
    where = f"{config['MAIL_SERVER']}:{config['MAIL_PORT']}"
    text = str(exc) or exc.__class__.__name__
    return f"{exc.__class__.__name__} talking to {where}: {text}"[:2000]


# --- overdue reminders --------------------------------------------------------------------


def _owed_cents(invoice: Invoice) -> int:
    from .payments import still_owed_cents

    return still_owed_cents(invoice)


@dataclass
class ReminderRun:
    on: date
    queued: int = 0    # reminders recorded to be sent
    not_sent: int = 0  # recorded, but the tenant has no billing email
    skipped: int = 0   # earlier stages overtaken by a later one
    invoice_ids: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"on": self.on.isoformat(), "queued": self.queued, "not_sent": self.not_sent,
                "skipped": self.skipped}


def send_reminders(on: date) -> ReminderRun:
    """Remind every overdue invoice whose reminder day (due date + each of ``REMINDER_DAYS``)
    has come and whose reminder for that stage was never recorded. Each stage is recorded once
    (a unique index), so repeated or concurrent runs send nothing twice. When several stages
    are due at once (the job missed days) only the latest is sent; the earlier ones are
    recorded as skipped. Each invoice is its own transaction."""
    stages = tuple(current_app.config["REMINDER_DAYS"])
    run = ReminderRun(on)
    if not stages:
        return run
    candidates = db.session.scalars(
        select(Invoice.id).where(Invoice.status == ISSUED,
                                 Invoice.due_on <= on - timedelta(days=stages[0]))
        .order_by(Invoice.id)).all()
    for invoice_id in candidates:
        _remind(invoice_id, on, stages, run)
        dispatch()
    return run


def _remind(invoice_id: int, on: date, stages: tuple[int, ...], run: ReminderRun) -> None:
    invoice = db.session.scalar(
        select(Invoice).where(Invoice.id == invoice_id).with_for_update()
        .execution_options(populate_existing=True))
    owed = _owed_cents(invoice)
    due = [stage for stage in stages if invoice.due_on + timedelta(days=stage) <= on]
    done = set(db.session.scalars(select(MailMessage.stage).where(
        MailMessage.invoice_id == invoice_id, MailMessage.kind == REMINDER)))
    if owed <= 0 or not due or (done and max(done) >= due[-1]):
        db.session.rollback()
        return
    tenant = db.session.get(Tenant, invoice.tenant_id)
    to, why_not = _recipient(tenant)
    latest = due[-1]
    context = {**_invoice_context(invoice, tenant), "owed_cents": owed,
               "overdue_days": (on - invoice.due_on).days}
    skipped = [stage for stage in due[:-1] if stage not in done]
    try:
        for stage in skipped:
            _record(to, _reminder_subject(invoice), "", REMINDER, SKIPPED,
                    f"the day-{latest} reminder was due by {on.isoformat()} as well; "
                    "only the latest due reminder is sent",
                    invoice_id=invoice.id, tenant_id=tenant.id, stage=stage)
        message = queue_document_email(
            REMINDER, to, _reminder_subject(invoice),
            render_template("mail/reminder.txt", **context),
            invoice_id=invoice.id, tenant_id=tenant.id, stage=latest,
            attachment=(invoice_filename(invoice), "invoice_pdf", invoice.id),
            not_sent_reason=why_not)
        db.session.commit()
    except IntegrityError:  # a concurrent run recorded this stage first: it sends it
        db.session.rollback()
        db.session.info.pop(_PENDING, None)
        return
    run.skipped += len(skipped)
    if message.status == NOT_SENT:
        run.not_sent += 1
    else:
        run.queued += 1
    run.invoice_ids.append(invoice_id)


def _reminder_subject(invoice: Invoice) -> str:
    return (f"Reminder: tax invoice {invoice.number} was due on {invoice.due_on.isoformat()}")


# --- reading ------------------------------------------------------------------------------


def messages_for_invoice(invoice_id: int) -> list[MailMessage]:
    return list(db.session.scalars(select(MailMessage).where(MailMessage.invoice_id == invoice_id)
                                   .order_by(MailMessage.created_at.desc(), MailMessage.id.desc())))


def outbox(page: int = 1, per_page: int = PER_PAGE):
    """Every message, newest first: a page of them and the next page's number (or None)."""
    query = select(MailMessage).order_by(MailMessage.created_at.desc(), MailMessage.id.desc())
    return page_of(query, page, per_page)


# The outbox page: by when (the id's order), newest first or oldest first.
OUTBOX_SORTS = Sorts({"when": (MailMessage.id, int)}, "-when", MailMessage.id)


def outbox_query(user=None) -> Select:
    return select(MailMessage)


def outbox_totals(query, keyset=None, cursor=None):
    return totals(query, {}, keyset, cursor)


def count_by_status() -> dict[str, int]:
    return dict(db.session.execute(
        select(MailMessage.status, func.count()).group_by(MailMessage.status)).all())


def body_visible(message: MailMessage) -> bool:
    """Whether the outbox may show the body: always, except a sign-in link that went out."""
    if message.kind not in SENSITIVE_KINDS:
        return True
    return message.status == NOT_SENT and message.error == NO_MAIL_SERVER
