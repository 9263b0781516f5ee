"""Configuration from the environment; a test mapping overrides any key."""
import os
from decimal import Decimal


DEV_SECRET_KEY = "dev-only-change-me"


def from_environment(instance_path: str) -> dict:
    sqlite_path = os.path.join(instance_path, "portal.sqlite3")
    return {
        "SECRET_KEY": os.environ.get("SECRET_KEY", DEV_SECRET_KEY),
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
        "INVOICE_NUMBER_PREFIX": os.environ.get("INVOICE_NUMBER_PREFIX", "ARC-"),
        "INVOICE_DUE_DAYS": int(os.environ.get("INVOICE_DUE_DAYS", "14")),
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


def _database_url(url: str) -> str:
    # Heroku-style URLs and bare postgresql:// go through psycopg 3, the driver we ship.
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url
