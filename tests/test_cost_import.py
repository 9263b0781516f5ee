from datetime import date, datetime, timezone

import pytest
from sqlalchemy import select

from portal.errors import Forbidden, ValidationError
from portal.models import AuditEntry, ProviderCostLine, ProviderResource
from portal.services.cost_import import import_invoice_csv, parse_amount
from tests.factories import make_deployment, make_tenant, make_user

HEADER = "product,group_description,description,hours,start,end,USD,project_name,category\n"
NOW = datetime(2026, 5, 2, tzinfo=timezone.utc)


def csv_bytes(*rows: str, header: str = HEADER, bom: bool = False) -> bytes:
    text = header + "".join(r + "\n" for r in rows)
    return (b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8")


def stored(database) -> list[ProviderCostLine]:
    return list(database.session.scalars(select(ProviderCostLine).order_by(ProviderCostLine.line_no)))


@pytest.fixture
def owned(database):
    """A droplet named ``llm-node0`` attributed to acme / llm."""
    deployment = make_deployment(make_tenant("acme"), name="llm")
    database.session.add(ProviderResource(
        provider="demo", kind="droplet", provider_id="500010", name="llm-node0", region="syd1",
        size="s-2vcpu-4gb", status="active", tags=[f"arcadia:deployment:{deployment.id}"],
        deployment_id=deployment.id, recorded_size="s-2vcpu-4gb", last_seen_at=NOW))
    database.session.commit()
    return deployment


def test_amounts_become_exact_cents():
    assert parse_amount("12.34") == 1234
    assert parse_amount("$12.34") == 1234
    assert parse_amount("-1.00") == -100
    assert parse_amount("-$1.00") == -100
    assert parse_amount("$1,234.50") == 123450
    assert parse_amount("0.005") == 1 and parse_amount("0.0049") == 0  # half up, no float
    assert parse_amount("19.995") == 2000
    for bad in ("abc", "", "1.2.3", "--1", "1e3", "NaN"):
        with pytest.raises(ValueError):
            parse_amount(bad)


def test_import_stores_exact_cents_and_attributes_by_resource_name(database, owned):
    admin = make_user()
    content = csv_bytes(
        "Droplets,,llm-node0,744,2026-04-01 00:00:00 +0000,2026-05-01 00:00:00 +0000,$24.00,Arcadia,iaas",
        'Volumes,,"unknown, volume",744,,,10.005,Arcadia,iaas',
        "Credits,,Promo credit,,,,-1.00,,credit",
        bom=True)
    assert import_invoice_csv(admin, "2026-04", "invoice.csv", content) == 3
    lines = stored(database)
    assert [(l.line_no, l.product, l.description, l.amount_cents) for l in lines] == [
        (1, "Droplets", "llm-node0", 2400), (2, "Volumes", "unknown, volume", 1001),
        (3, "Credits", "Promo credit", -100)]
    assert [l.deployment_id for l in lines] == [owned.id, None, None]
    assert {l.period for l in lines} == {date(2026, 4, 1)}
    assert {l.source for l in lines} == {"csv"} and {l.currency for l in lines} == {"USD"}
    assert {l.provider_id for l in lines} == {None}
    assert lines[0].invoice_ref.startswith("csv:2026-04:") and len(lines[0].invoice_ref) == 28
    audit = database.session.scalars(select(AuditEntry).where(AuditEntry.action == "costs.import")).one()
    assert audit.actor == admin.email and audit.details["filename"] == "invoice.csv"
    assert audit.details["lines"] == 3


def test_amount_column_may_be_named_amount(database):
    content = csv_bytes("Droplets,,a,,,,12.34,,", header=HEADER.replace(",USD,", ",amount,"))
    assert import_invoice_csv(make_user(), "2026-04", "a.csv", content) == 1
    assert stored(database)[0].amount_cents == 1234


def test_reimporting_the_same_file_replaces_its_lines(database, owned):
    admin = make_user()
    content = csv_bytes("Droplets,,llm-node0,,,,24.00,,", "Volumes,,v,,,,10.00,,")
    assert import_invoice_csv(admin, "2026-04", "invoice.csv", content) == 2
    assert import_invoice_csv(admin, "2026-04", "invoice-again.csv", content) == 2
    assert [(l.line_no, l.amount_cents) for l in stored(database)] == [(1, 2400), (2, 1000)]
    # another file for the month adds to it
    assert import_invoice_csv(admin, "2026-04", "extra.csv", csv_bytes("Spaces,,s,,,,5.00,,")) == 1
    assert sum(l.amount_cents for l in stored(database)) == 3900


def test_header_only_imports_nothing(database):
    assert import_invoice_csv(make_user(), "2026-04", "empty.csv", csv_bytes()) == 0
    assert stored(database) == []


def test_a_bad_row_rejects_the_whole_file(database):
    admin = make_user()
    rows = [f"Droplets,,node{i},,,,1.00,," for i in range(6)] + ["Droplets,,node6,,,,abc,,"]
    with pytest.raises(ValidationError) as caught:
        import_invoice_csv(admin, "2026-04", "bad.csv", csv_bytes(*rows))
    assert caught.value.fields == {"file": "row 7: amount 'abc' is not a number"}
    assert stored(database) == []
    assert database.session.scalars(select(AuditEntry).where(AuditEntry.action == "costs.import")).all() == []


@pytest.mark.parametrize("content, message", [
    (b"", "is empty"),
    (b"product,description,hours\nDroplets,a,1\n", "lacks the column(s) USD"),
    (b"\xff\xfe\x00p", "is not UTF-8 text"),
])
def test_unreadable_files_are_refused(database, content, message):
    with pytest.raises(ValidationError) as caught:
        import_invoice_csv(make_user(), "2026-04", "x.csv", content)
    assert message in caught.value.fields["file"]


def test_period_and_size_are_checked(database):
    admin = make_user()
    with pytest.raises(ValidationError) as caught:
        import_invoice_csv(admin, "April", "x.csv", csv_bytes())
    assert caught.value.fields == {"period": "must be a month as YYYY-MM"}
    with pytest.raises(ValidationError) as caught:
        import_invoice_csv(admin, "2026-04", "x.csv", csv_bytes() + b"," * (5 * 1024 * 1024))
    assert caught.value.fields == {"file": "is larger than 5 MB"}


def test_a_tenant_user_may_not_import(database):
    tenant_admin = make_user("tenant_admin")
    with pytest.raises(Forbidden):
        import_invoice_csv(tenant_admin, "2026-04", "x.csv", csv_bytes("Droplets,,a,,,,1.00,,"))
    assert stored(database) == []


@pytest.mark.parametrize("content, message", [
    (csv_bytes("Droplets,,a,,,,99999999999999999999999,,"),
     "row 1: amount '99999999999999999999999' is out of range (at most 10,000,000,000,000)"),
    (csv_bytes("Droplets,,a,,,,10000000000000.01,,"),
     "row 1: amount '10000000000000.01' is out of range (at most 10,000,000,000,000)"),
    (csv_bytes("Droplets,,a,,,," + "9" * 5000 + ",,"),
     "row 1: amount '" + "9" * 40 + "' is out of range (at most 10,000,000,000,000)"),
    (csv_bytes("Droplets,,a\x1bb,,,,1.00,,"), "row 1: a cell must not contain control characters"),
    (csv_bytes("Droplets,," + "d" * 10_001 + ",,,,1.00,,"),
     "row 1: a cell must be at most 10000 characters"),
    (HEADER.replace("product", "prod\x07uct").encode() + b"Droplets,,a,,,,1.00,,\n",
     "the header: a column name must not contain control characters"),
    (b"Droplets,,a,,,,1.00,,\n", "the header lacks the column(s) product, description, USD; "
                                 "expected DigitalOcean's invoice CSV"),
    (HEADER.encode("utf-16"), "is not UTF-8 text"),
    (b"\xef\xbb\xbf", "is empty; expected a header row"),
    (csv_bytes("Droplets,,a\x00b,,,,1.00,,"), "row 1: a cell must not contain NUL characters"),
    (b"\xff\xfe\x00\x01", "is not UTF-8 text"),
])
def test_hostile_csv_files_are_refused_naming_the_problem(database, content, message):
    with pytest.raises(ValidationError) as caught:
        import_invoice_csv(make_user(), "2026-04", "x.csv", content)
    assert caught.value.fields == {"file": message}
    assert stored(database) == []


def test_the_largest_amount_is_stored_exactly(database):
    import_invoice_csv(make_user(), "2026-04", "x.csv", csv_bytes("Droplets,,a,,,,10000000000000.00,,"))
    assert [l.amount_cents for l in stored(database)] == [10**15]
