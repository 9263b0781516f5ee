"""``flask --app portal …`` commands. Each calls the same service a page or the API calls."""
import functools

import click
from flask import Flask
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DataError

from .errors import DomainError, NotFound
from .models.tenancy import ROLES


def reports_domain_errors(command):
    """A domain error (an unreachable job queue, a value the database refuses) becomes a clear
    one-line message and exit status 1, not a traceback."""

    @functools.wraps(command)
    def wrapped(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except DomainError as exc:
            detail = "; ".join(f"{k}: {v}" for k, v in exc.fields.items())
            extra = f" ({detail})" if detail and detail != exc.message else ""
            raise click.ClickException(exc.message + extra) from None
        except (RedisConnectionError, RedisTimeoutError) as exc:
            raise click.ClickException(
                f"the job queue (Redis at REDIS_URL) is unreachable: {exc}. Nothing was queued; "
                "start Redis, or unset REDIS_URL to run jobs inline.") from None
        except DataError:  # a value validation missed that the database cannot store
            raise click.ClickException("a value is out of range or too long to store") from None

    return wrapped


def register(app: Flask) -> None:
    from .services import accounts, catalog, demo

    @app.cli.command("seed")
    def seed():
        """Write the catalog (and nothing else). Safe to run again."""
        created = catalog.seed_catalog()
        click.echo(
            f"catalog seeded: {created['plans']} plans, {created['versions']} versions, "
            f"{created['addons']} addons created"
        )

    @app.cli.command("demo")
    def demo_cmd():
        """Demo tenants, users and data for trying the portal out."""
        for line in demo.load_demo():
            click.echo(line)
        click.echo(f"demo ready: sign in as admin@example.com / {demo.DEMO_PASSWORD}")

    @app.cli.group("tenants")
    def tenants():
        """Manage tenants."""

    @tenants.command("create")
    @click.argument("slug")
    @click.option("--name", required=True)
    @click.option("--billing-name", default=None, help="Defaults to --name.")
    @click.option("--address", default="", help="Billing address; \\n separates lines.")
    @click.option("--abn", default=None)
    @click.option("--billing-email", default=None,
                  help="Where its invoices and reminders are emailed.")
    @reports_domain_errors
    def tenants_create(slug, name, billing_name, address, abn, billing_email):
        tenant = accounts.create_tenant(
            slug, name, billing_name=billing_name,
            billing_address=address.replace("\\n", "\n"), abn=abn, billing_email=billing_email,
        )
        click.echo(f"tenant {tenant.slug} created (id {tenant.id})")

    @app.cli.group("users")
    def users():
        """Manage users."""

    @users.command("create")
    @click.argument("email")
    @click.option("--role", required=True, type=click.Choice(ROLES))
    @click.option("--tenant", "tenant_slug", default=None)
    @click.option("--password", required=True)
    @reports_domain_errors
    def users_create(email, role, tenant_slug, password):
        user = accounts.create_user(email, role, password, tenant_slug)
        click.echo(f"user {user.email} created ({user.role})")

    @users.command("deactivate")
    @click.argument("email")
    @reports_domain_errors
    def users_deactivate(email):
        """The user can no longer sign in; its sessions and tokens stop working at once."""
        user = accounts.user_by_email(email)
        if user is None:
            raise NotFound(f"no user {email.strip().lower()}")
        accounts.deactivate_user(None, user)
        click.echo(f"user {user.email} deactivated")

    @app.cli.group("invoices")
    def invoices():
        """Invoices and the month-end rollup."""

    @invoices.command("rollup")
    @click.option("--period", required=True, help="The month, YYYY-MM.")
    @click.option("--force", is_flag=True, help="Rebuild drafts (never issued or paid ones).")
    @reports_domain_errors
    def invoices_rollup(period, force):
        """Run the rollup for a month (on the worker when REDIS_URL is set)."""
        from .services.rollup import request_rollup

        done = request_rollup(period, force)
        if done.inline:
            r = done.result
            click.echo(f"{r['period']}: {r['created']} created, {r['skipped']} skipped, "
                       f"{r['rebuilt']} rebuilt")
            for message in r["messages"]:
                click.echo(f"  {message}")
        else:
            click.echo(f"rollup of {period} queued as job {done.job_id}")

    @app.cli.group("reminders")
    def reminders():
        """Overdue invoice reminders."""

    @reminders.command("send")
    @click.option("--on", "on", default=None, help="The day, YYYY-MM-DD (default: today, UTC).")
    @reports_domain_errors
    def reminders_send(on):
        """Queue the reminders due as of a day: each stage of REMINDER_DAYS once per invoice."""
        from .clock import today
        from .errors import ValidationError
        from .services import mail
        from .services.validation import FieldError, iso_date

        try:
            day = iso_date(on) if on is not None else today()
        except FieldError as exc:
            raise ValidationError({"on": str(exc)}) from None
        run = mail.send_reminders(day)
        click.echo(f"{day.isoformat()}: {run.queued} reminder(s) queued"
                   + (f", {run.not_sent} not sent (no billing email)" if run.not_sent else "")
                   + (f", {run.skipped} earlier stage(s) skipped" if run.skipped else ""))

    @app.cli.group("provider")
    def provider():
        """The provider side (DigitalOcean, or the demo provider without a token)."""

    @provider.command("sync")
    @click.option("--part", type=click.Choice(["inventory", "billing"]), multiple=True,
                  help="Only these parts (default: both).")
    def provider_sync(part):
        """Inventory, metering, drift and billing from the provider, now. Exits non-zero only
        when nothing could be synced."""
        from .services import provider_sync as sync

        report = sync.sync(parts=part or sync.PARTS)
        click.echo(f"provider: {report.provider}")
        for name, result in report.results.items():
            if result["ok"]:
                counts = ", ".join(f"{k} {v}" for k, v in result["counts"].items())
                click.echo(f"{name}: ok ({counts})")
            else:
                click.echo(f"{name}: FAILED: {result['error']}", err=True)
        if not report.any_ok:
            raise click.ClickException("nothing could be synced; the last good data is kept")

    @app.cli.group("tokens")
    def tokens():
        """Manage API tokens."""

    @tokens.command("create")
    @click.argument("email")
    @click.option("--name", default="cli", show_default=True, help="What the token is for.")
    @click.option("--expires-in-days", type=int, default=None,
                  help="Days until it stops working (default: never).")
    @reports_domain_errors
    def tokens_create(email, name, expires_in_days):
        """Print a new token once, alone on the last line."""
        raw = accounts.create_token(email, name=name, expires_in_days=expires_in_days)
        click.echo(f"token for {email.strip().lower()} (shown once; store it now):")
        click.echo(raw)

    @tokens.command("revoke")
    @click.argument("email")
    @reports_domain_errors
    def tokens_revoke(email):
        """Revoke every token of the user."""
        count = accounts.revoke_tokens(email)
        click.echo(f"revoked {count} token(s) for {email.strip().lower()}")

    @app.cli.group("usage")
    def usage():
        """Metered usage."""

    @usage.command("rebuild-aggregates")
    @click.option("--period", default=None, help="Only this month, YYYY-MM (default: all).")
    @reports_domain_errors
    def usage_rebuild_aggregates(period):
        """Recompute the daily usage aggregate from the raw events."""
        from .extensions import db
        from .services.invoices import parse_period
        from .services.usage import rebuild_aggregates

        start, end = parse_period(period) if period is not None else (None, None)
        rows = rebuild_aggregates(start, end)
        db.session.commit()
        click.echo(f"{period or 'all periods'}: {rows} daily aggregate rows rebuilt "
                   "from the raw events")
