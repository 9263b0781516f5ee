"""The command line, through Flask's CLI runner against the test database."""
from datetime import date

from sqlalchemy import func, select

from portal.models import Addon, ApiToken, AuditEntry, Invoice, Plan, PlanItem, PlanVersion, Tenant, User


def count(database, model):
    return database.session.scalar(select(func.count()).select_from(model))


def test_seed_writes_the_catalog_once(app, database):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["seed"])
    assert first.exit_code == 0, first.output
    assert "1 plans, 1 versions, 1 addons created" in first.output
    second = runner.invoke(args=["seed"])
    assert "0 plans, 0 versions, 0 addons created" in second.output
    assert [count(database, m) for m in (Plan, PlanVersion, PlanItem, Addon)] == [1, 1, 3, 1]
    # The catalog and nothing else.
    assert [count(database, m) for m in (Tenant, User)] == [0, 0]


def test_tenant_user_and_token_lifecycle(app, database, client):
    runner = app.test_cli_runner()
    assert runner.invoke(args=["tenants", "create", "acme", "--name", "Acme AI"]).exit_code == 0
    r = runner.invoke(args=["users", "create", "Alice@Example.com", "--role", "tenant_admin",
                            "--tenant", "acme", "--password", "s3cret-pass"])
    assert r.exit_code == 0, r.output
    user = database.session.scalar(select(User).where(User.email == "alice@example.com"))
    assert (user.role, user.tenant.slug) == ("tenant_admin", "acme")
    assert user.password_hash != "s3cret-pass"

    r = runner.invoke(args=["tokens", "create", "alice@example.com"])
    assert r.exit_code == 0
    token = r.output.strip().splitlines()[-1]
    assert token.startswith("arc_") and " " not in token
    stored = database.session.scalar(select(ApiToken))
    assert stored.token_hash != token and token not in stored.token_hash
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/catalog/plans", headers=headers).status_code == 200

    r = runner.invoke(args=["tokens", "revoke", "alice@example.com"])
    assert "revoked 1 token(s) for alice@example.com" in r.output
    assert client.get("/api/v1/catalog/plans", headers=headers).status_code == 401
    actions = database.session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert actions == ["tenant.create", "user.create", "token.create", "token.revoke"]


def test_cli_errors_are_clear_and_exit_non_zero(app, database):
    runner = app.test_cli_runner()
    runner.invoke(args=["tenants", "create", "acme", "--name", "Acme"])
    r = runner.invoke(args=["tenants", "create", "acme", "--name", "Acme again"])
    assert r.exit_code == 1 and "tenant 'acme' already exists" in r.output
    r = runner.invoke(args=["tenants", "create", "Bad Slug!", "--name", "X"])
    assert r.exit_code == 1 and "slug: must be lowercase letters" in r.output
    r = runner.invoke(args=["users", "create", "v@example.com", "--role", "tenant_viewer",
                            "--password", "long-enough"])
    assert r.exit_code == 1 and "tenant: is required for tenant_viewer" in r.output
    r = runner.invoke(args=["users", "create", "a@example.com", "--role", "platform_admin",
                            "--tenant", "acme", "--password", "long-enough"])
    assert r.exit_code == 1 and "a platform admin belongs to no tenant" in r.output
    r = runner.invoke(args=["users", "create", "a@example.com", "--role", "platform_admin",
                            "--password", "short"])
    assert r.exit_code == 1 and "password: must be at least 8 characters" in r.output
    r = runner.invoke(args=["tokens", "create", "nobody@example.com"])
    assert r.exit_code == 1 and "no user nobody@example.com" in r.output
    assert count(database, User) == 0


def test_demo_is_repeatable(app, database, monkeypatch):
    monkeypatch.setitem(app.config, "MAIL_SERVER", None)
    runner = app.test_cli_runner()
    first = runner.invoke(args=["demo"])
    assert first.exit_code == 0, first.output
    assert "created user admin@example.com (platform_admin)" in first.output
    second = runner.invoke(args=["demo"])
    assert second.exit_code == 0
    assert not [line for line in second.output.splitlines() if line.startswith(("created", "issued"))]
    assert [count(database, m) for m in (Tenant, User, Plan)] == [2, 4, 1]
    assert "synced the demo provider's inventory" in first.output
    assert "issued invoice ARC-000001" in first.output
    # Its issued invoices' mails, kept in the outbox since no mail server is configured.
    from portal.models import MailMessage

    mails = database.session.scalars(select(MailMessage).order_by(MailMessage.id)).all()
    acme, globex = "accounts@acme.example.com", "billing@globex.example.com"
    assert [(m.kind, m.to_address, m.status) for m in mails[:5]] == [
        ("invoice_issued", acme, "not_sent"), ("invoice_issued", globex, "not_sent"),   # two months back
        ("invoice_issued", acme, "not_sent"), ("invoice_issued", globex, "not_sent"),   # last month
        ("credit_note_issued", acme, "not_sent")]
    # Acme's older invoice is part-paid and overdue: one reminder, for the latest stage due
    # (earlier stages passed while nobody ran the job are recorded as skipped).
    reminders = [(m.to_address, m.status) for m in mails[5:]]
    assert set(reminders) <= {(acme, "skipped"), (acme, "not_sent")}
    assert reminders.count((acme, "not_sent")) == 1 and reminders[-1] == (acme, "not_sent")
    states = {(i.tenant.slug, i.status, i.amount_paid_cents > 0, i.amount_credited_cents > 0,
               i.is_overdue(date.today())) for i in database.session.scalars(select(Invoice))}
    assert states == {("globex", "paid", True, False, False), ("acme", "issued", True, False, True),
                      ("acme", "issued", False, True, False), ("globex", "issued", False, False, False)}


def test_tenants_create_checks_and_formats_the_abn_as_the_profile_page_does(app, database):
    runner = app.test_cli_runner()
    r = runner.invoke(args=["tenants", "create", "acme", "--name", "Acme", "--abn", "51824753557"])
    assert r.exit_code == 1
    assert "abn: is not a valid ABN (checksum)" in r.output
    r = runner.invoke(args=["tenants", "create", "acme", "--name", "Acme", "--abn", "12 345"])
    assert r.exit_code == 1 and "abn: must be 11 digits" in r.output
    assert count(database, Tenant) == 0
    assert database.session.scalars(select(AuditEntry)).all() == []

    r = runner.invoke(args=["tenants", "create", "acme", "--name", "Acme", "--abn", "51824753556"])
    assert r.exit_code == 0, r.output
    assert database.session.scalar(select(Tenant.abn).where(Tenant.slug == "acme")) == "51 824 753 556"
    r = runner.invoke(args=["tenants", "create", "globex", "--name", "Globex", "--abn", "  "])
    assert r.exit_code == 0, r.output
    assert database.session.scalar(select(Tenant.abn).where(Tenant.slug == "globex")) is None


import pytest  # noqa: E402


@pytest.mark.parametrize("args, message", [
    (["tenants", "create", "ac\udcffme", "--name", "Acme"], "slug"),
    (["tenants", "create", "acme", "--name", "Acme\x1b[31m"], "name: must not contain control characters"),
    (["tenants", "create", "acme", "--name", "Acme\udcff"], "name: is not valid Unicode text"),
    (["tenants", "create", "acme", "--name", "x" * 201], "name: must be at most 200 characters"),
    (["tenants", "create", "acme", "--name", "Acme", "--abn", "12345"], "abn: must be 11 digits"),
    (["tenants", "create", "acme", "--name", "Acme", "--address", "x" * 1001],
     "billing_address: must be at most 1000 characters"),
    (["users", "create", "a\udcff@example.com", "--role", "platform_admin", "--password", "password123"],
     "email: is not an email address"),
    (["users", "create", "a" * 300 + "@example.com", "--role", "platform_admin",
      "--password", "password123"], "email: is not an email address"),
    (["users", "create", "b@example.com", "--role", "platform_admin", "--password", "pass\udcffword"],
     "password: is not valid Unicode text"),
    (["users", "create", "b@example.com", "--role", "tenant_admin", "--tenant", "ac\udcffme",
      "--password", "password123"], "tenant: unknown tenant"),
    (["tokens", "create", "a\udcff@example.com"], "no user"),
    (["tokens", "revoke", "x" * 5000], "no user"),
    (["invoices", "rollup", "--period", "0000-01"], "period: must be a month between 2000-01 and 2999-12"),
    (["invoices", "rollup", "--period", "9999-12"], "period: must be a month between 2000-01 and 2999-12"),
    (["invoices", "rollup", "--period", "2026-13"], "period: must be a month as YYYY-MM"),
    (["invoices", "rollup", "--period", "2026-04\udcff"], "period: must be a month as YYYY-MM"),
])
def test_bad_values_exit_non_zero_with_a_message_not_a_traceback(app, database, args, message):
    r = app.test_cli_runner().invoke(args=args)
    assert r.exit_code == 1, (r.exit_code, r.output, r.exception)
    assert message in r.output
    assert "Traceback" not in r.output and not isinstance(r.exception, (TypeError, LookupError,
                                                                         UnicodeError))
    assert count(database, Tenant) == 0 and count(database, User) == 0
