"""Configuration from the environment; a test mapping overrides any key."""
import os
from decimal import Decimal


DEV_SECRET_KEY = "dev-only-change-me"


def from_environment(instance_path: str) -> dict:
    sqlite_path = os.path.join(instance_path, "portal.sqlite3")
    return {
        # Required outside debug and testing (create_app refuses to start without it).
        "SECRET_KEY": os.environ.get("SECRET_KEY") or None,
        "SQLALCHEMY_DATABASE_URI": _database_url(
            os.environ.get("DATABASE_URL") or f"sqlite:///{sqlite_path}"
        ),
        "REDIS_URL": os.environ.get("REDIS_URL") or None,
        # The prefix of the worker's queues (<prefix>-high, -documents, -messages).
        "RQ_QUEUE": os.environ.get("RQ_QUEUE", "portal"),
        # A busy worker renews its heartbeats this often; a started job silent for twice that
        # (and 10 s) has lost its worker and is failed (portal.queue.reap_abandoned).
        "WORKER_HEARTBEAT_SECONDS": int(os.environ.get("WORKER_HEARTBEAT_SECONDS", "30")),
        # Draft PDFs the rollup queues go to the worker in batches of this many invoices:
        # one job (and one fork) per batch instead of one per invoice.
        "PDF_BATCH_SIZE": int(os.environ.get("PDF_BATCH_SIZE", "20")),
        # Test and benchmark hook only: the rollup sleeps this long per tenant, so that a
        # worker can be killed midway through a small one.
        "ROLLUP_TENANT_DELAY_SECONDS": float(os.environ.get("PORTAL_TEST_ROLLUP_DELAY", "0")),
        # The rollup writes this many tenants' invoices per transaction (set-based statements);
        # a crash loses at most the chunk in flight, which a re-run writes.
        "ROLLUP_CHUNK_TENANTS": int(os.environ.get("ROLLUP_CHUNK_TENANTS", "500")),
        # GST is data, not code: other jurisdictions come later.
        "TAX_NAME": os.environ.get("TAX_NAME", "GST"),
        "TAX_RATE": Decimal(os.environ.get("TAX_RATE", "0.10")),
        # Sign-in throttling: this many failures in the window lock the email (and, ×4, the IP).
        "LOGIN_MAX_FAILURES": int(os.environ.get("LOGIN_MAX_FAILURES", "5")),
        "LOGIN_WINDOW_SECONDS": int(os.environ.get("LOGIN_WINDOW_SECONDS", "900")),
        # werkzeug's default (scrypt); tests use a cheap one.
        "PASSWORD_HASH_METHOD": os.environ.get("PASSWORD_HASH_METHOD", "scrypt"),
        # The seller on every tax invoice.
        "SELLER_NAME": os.environ.get("SELLER_NAME", "Arcadia Cloud Pty Ltd"),
        "SELLER_ABN": os.environ.get("SELLER_ABN", "53 004 085 616"),
        "SELLER_ADDRESS": os.environ.get(
            "SELLER_ADDRESS", "Level 9, 1 Demo Place\nSydney NSW 2000\nAustralia"
        ).replace("\\n", "\n"),
        "SELLER_EMAIL": os.environ.get("SELLER_EMAIL", "billing@arcadia.example.com"),
        # Outgoing mail over SMTP. Without MAIL_SERVER nothing is sent: each message is
        # recorded as not sent (the admins' outbox shows it). MAIL_USE_TLS means STARTTLS.
        "MAIL_SERVER": os.environ.get("MAIL_SERVER") or None,
        "MAIL_PORT": int(os.environ.get("MAIL_PORT") or (587 if _flag("MAIL_USE_TLS") else 25)),
        "MAIL_USERNAME": os.environ.get("MAIL_USERNAME") or None,
        "MAIL_PASSWORD": os.environ.get("MAIL_PASSWORD") or None,
        "MAIL_USE_TLS": _flag("MAIL_USE_TLS"),
        "MAIL_FROM": os.environ.get("MAIL_FROM") or None,  # None: SELLER_NAME <SELLER_EMAIL>
        "MAIL_TIMEOUT_SECONDS": float(os.environ.get("MAIL_TIMEOUT_SECONDS", "10")),
        # The portal's address as its users reach it, e.g. https://portal.example.com: the
        # base of the links in invitation and reset emails. Unset: the request's own host.
        "PORTAL_URL": (os.environ.get("PORTAL_URL") or "").rstrip("/") or None,
        # Days after an invoice's due date on which an overdue one gets a reminder.
        "REMINDER_DAYS": reminder_days(os.environ.get("REMINDER_DAYS", "1,7,14")),
        "INVOICE_NUMBER_PREFIX": os.environ.get("INVOICE_NUMBER_PREFIX", "ARC-"),
        "CREDIT_NOTE_NUMBER_PREFIX": os.environ.get("CREDIT_NOTE_NUMBER_PREFIX", "CN-"),
        "INVOICE_DUE_DAYS": int(os.environ.get("INVOICE_DUE_DAYS", "14")),
        # Webhooks: a delivery not answered with a 2xx within the timeout (in all, however the
        # receiver trickles its answer) is retried after each of these delays, then marked
        # failed; a lease stops two workers sending one at once (keep it above the timeout).
        "WEBHOOK_RETRY_SECONDS": _delays(os.environ.get("WEBHOOK_RETRY_SECONDS", "60,300,1800,7200,43200")),
        "WEBHOOK_TIMEOUT_SECONDS": float(os.environ.get("WEBHOOK_TIMEOUT_SECONDS", "10")),
        "WEBHOOK_LEASE_SECONDS": int(os.environ.get("WEBHOOK_LEASE_SECONDS", "60")),
        # How many endpoints one pass sends to at once (each still gets its events in order).
        "WEBHOOK_CONCURRENCY": int(os.environ.get("WEBHOOK_CONCURRENCY", "8")),
        # How long a dispatch waits for an older transaction still running before it leaves
        # a committed event to the next dispatch or the sweep (services.webhooks).
        "WEBHOOK_HOLD_SECONDS": float(os.environ.get("WEBHOOK_HOLD_SECONDS", "5")),
        # When true, the rollup issues the invoices it creates instead of leaving drafts.
        "ROLLUP_AUTO_ISSUE": os.environ.get("ROLLUP_AUTO_ISSUE", "") in ("1", "true", "yes"),
        # The provider: unset token means the demo provider (clearly labelled in the pages).
        "DIGITALOCEAN_TOKEN": os.environ.get("DIGITALOCEAN_TOKEN") or None,
        "DIGITALOCEAN_API_URL": os.environ.get("DIGITALOCEAN_API_URL", "https://api.digitalocean.com"),
        "PROVIDER_TIMEOUT_SECONDS": float(os.environ.get("PROVIDER_TIMEOUT_SECONDS", "10")),
        # The provider bills in its currency; cost-vs-revenue converts at this configured rate
        # (units of the plan currency per unit of the provider's), not a live feed.
        "PROVIDER_CURRENCY": os.environ.get("PROVIDER_CURRENCY", "USD"),
        "PROVIDER_FX_RATE": Decimal(os.environ.get("PROVIDER_FX_RATE", "1.55")),
        # Uploads (a provider invoice CSV) are refused above this, before being read.
        "MAX_CONTENT_LENGTH": 10 * 1024 * 1024,
        "SESSION_COOKIE_HTTPONLY": True,
        # Behind HTTPS in production, set SESSION_COOKIE_SECURE=true.
        "SESSION_COOKIE_SECURE": os.environ.get("SESSION_COOKIE_SECURE", "") in ("1", "true", "yes"),
        "SESSION_COOKIE_SAMESITE": "Lax",
        "WTF_CSRF_TIME_LIMIT": None,  # the token lives as long as the session
    }


def _delays(value: str) -> list[int]:
    """"60,300" → [60, 300] (seconds); an empty value means no retries."""
    return [int(part) for part in value.split(",") if part.strip()]


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def reminder_days(value: str) -> tuple[int, ...]:
    """``"1,7,14"`` → (1, 7, 14): distinct whole days after the due date, at least 1."""
    try:
        days = sorted({int(part) for part in value.split(",") if part.strip()})
    except ValueError:
        raise ValueError(f"REMINDER_DAYS must be whole numbers of days, like 1,7,14 (got {value!r})") from None
    if any(day < 1 or day > 3650 for day in days):
        raise ValueError(f"REMINDER_DAYS must be days from 1 to 3650 (got {value!r})")
    return tuple(days)


def _database_url(url: str) -> str:
    # Heroku-style URLs and bare postgresql:// go through psycopg 3, the driver we ship.
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url
