"""Payments, credit notes (adjustment notes), credit balance and refunds, to the cent.

The invoice used throughout: studio + storage_50gb for March 2026 → plan_base 5000,
addon 750, GST 575, total 6325; issued on 2 April 2026, due 16 April.
"""
import re
from datetime import date

import pytest
from freezegun import freeze_time

from portal.services import rollup
from tests.factories import make_deployment, make_tenant, make_user, pdf_text


@pytest.fixture
def admin(catalog, api_as):
    return api_as(make_user(email="admin@example.com"))


@pytest.fixture
def acme(database):
    return make_tenant("acme", "Acme AI", billing_name="Acme AI Pty Ltd",
                       billing_address="1 Test St\nSydney NSW 2000", abn="51 824 753 556")


def invoice_for(admin, tenant, period="2026-03", issue_on="2026-04-02"):
    """The tenant's invoice of ``period``, issued on ``issue_on``."""
    with freeze_time(f"{issue_on} 09:00:00"):
        admin.post("/api/v1/invoices/rollup", json={"period": period})
        (row,) = [i for i in admin.get(f"/api/v1/invoices?period={period}&tenant={tenant.slug}")
                  .get_json()["invoices"] if i["status"] == "draft"]
        r = admin.post(f"/api/v1/invoices/{row['id']}/transition", json={"to": "issued"})
        assert r.status_code == 200, r.get_json()
    return admin.get(f"/api/v1/invoices/{row['id']}").get_json()


@pytest.fixture
def march(admin, acme):
    make_deployment(acme, name="llm", plan_code="studio", addons=["storage_50gb"],
                    starts_on=date(2026, 3, 1))
    body = invoice_for(admin, acme)
    assert (body["subtotal_cents"], body["tax_cents"], body["total_cents"]) == (5750, 575, 6325)
    return body


def lines_of(invoice):
    return {l["kind"]: l["id"] for l in invoice["lines"]}


def pay(admin, invoice_id, cents, paid_on="2026-04-10", method="bank_transfer", **extra):
    with freeze_time("2026-06-01 12:00:00"):
        return admin.post(f"/api/v1/invoices/{invoice_id}/payments",
                          json={"amount_cents": cents, "paid_on": paid_on, "method": method,
                                "reference": "EFT 1234", **extra})


def test_a_part_payment_then_an_overpayment_refused_then_settlement(admin, march):
    iid = march["id"]
    assert (march["amount_due_cents"], march["amount_paid_cents"], march["paid_on"]) == (6325, 0, None)
    r = pay(admin, iid, 2000, paid_on="2026-04-05")
    assert r.status_code == 201
    body = r.get_json()
    assert body == {"id": body["id"], "invoice_id": iid, "amount_cents": 2000,
                    "paid_on": "2026-04-05", "method": "bank_transfer", "reference": "EFT 1234"}
    inv = admin.get(f"/api/v1/invoices/{iid}").get_json()
    assert (inv["status"], inv["amount_paid_cents"], inv["amount_due_cents"]) == ("issued", 2000, 4325)

    over = pay(admin, iid, 4326)
    assert over.status_code == 422
    assert over.get_json()["error"]["fields"] == {
        "amount_cents": "is more than the amount due (4325 cents)"}
    assert admin.get(f"/api/v1/invoices/{iid}").get_json()["amount_paid_cents"] == 2000

    assert pay(admin, iid, 4325, paid_on="2026-04-12", method="card").status_code == 201
    inv = admin.get(f"/api/v1/invoices/{iid}").get_json()
    assert (inv["status"], inv["paid_on"], inv["amount_paid_cents"], inv["amount_due_cents"],
            inv["overdue"]) == ("paid", "2026-04-12", 6325, 0, False)
    listed = admin.get(f"/api/v1/invoices/{iid}/payments").get_json()["payments"]
    assert [(p["amount_cents"], p["paid_on"], p["method"]) for p in listed] == [
        (2000, "2026-04-05", "bank_transfer"), (4325, "2026-04-12", "card")]
    # Settled: another payment is a conflict, not a validation error.
    assert pay(admin, iid, 1).status_code == 409


@pytest.mark.parametrize("body, field", [
    ({"amount_cents": 0}, "amount_cents"), ({"amount_cents": -5}, "amount_cents"),
    ({"amount_cents": 10.5}, "amount_cents"), ({"amount_cents": "100"}, "amount_cents"),
    ({"amount_cents": True}, "amount_cents"), ({"method": "cash"}, "method"),
    ({"paid_on": "2026-13-01"}, "paid_on"), ({"paid_on": "2026-05-01"}, "paid_on"),
    ({"paid_on": None}, "paid_on"), ({"reference": 7}, "reference"), ({"tip": 1}, "tip"),
])
def test_invalid_payments_are_422_naming_the_field(admin, march, body, field):
    full = {"amount_cents": 100, "paid_on": "2026-04-10", "method": "card", **body}
    with freeze_time("2026-04-20"):
        r = admin.post(f"/api/v1/invoices/{march['id']}/payments", json=full)
    assert r.status_code == 422 and field in r.get_json()["error"]["fields"]
    assert admin.post(f"/api/v1/invoices/{march['id']}/payments", data="[]").status_code == 400


def test_payments_on_a_draft_or_void_invoice_are_409(admin, acme, march):
    with freeze_time("2026-05-02"):
        admin.post("/api/v1/invoices/rollup", json={"period": "2026-04"})
    draft = admin.get("/api/v1/invoices?status=draft").get_json()["invoices"][0]["id"]
    assert pay(admin, draft, 100).status_code == 409
    assert admin.post(f"/api/v1/invoices/{march['id']}/transition", json={"to": "void"}).status_code == 200
    r = pay(admin, march["id"], 100)
    assert r.status_code == 409 and "is void" in r.get_json()["error"]["message"]


def test_an_invoice_with_money_against_it_cannot_be_voided(admin, march):
    pay(admin, march["id"], 100)
    r = admin.post(f"/api/v1/invoices/{march['id']}/transition", json={"to": "void"})
    assert r.status_code == 409 and "credit note instead" in r.get_json()["error"]["message"]
    assert admin.get(f"/api/v1/invoices/{march['id']}").get_json()["status"] == "issued"


def test_the_paid_transition_records_the_whole_amount_due_dated_today(admin, march):
    pay(admin, march["id"], 325)
    with freeze_time("2026-04-22 08:00:00"):
        r = admin.post(f"/api/v1/invoices/{march['id']}/transition", json={"to": "paid"})
    assert r.status_code == 200
    assert (r.get_json()["status"], r.get_json()["paid_on"], r.get_json()["amount_due_cents"]) == (
        "paid", "2026-04-22", 0)
    payments = admin.get(f"/api/v1/invoices/{march['id']}/payments").get_json()["payments"]
    assert [(p["amount_cents"], p["paid_on"]) for p in payments] == [
        (325, "2026-04-10"), (6000, "2026-04-22")]


def test_overdue_flag_and_filter(admin, march):
    iid = march["id"]
    with freeze_time("2026-04-16 23:00:00"):  # the due day itself: not overdue yet
        assert admin.get(f"/api/v1/invoices/{iid}").get_json()["overdue"] is False
        assert admin.get("/api/v1/invoices?overdue=true").get_json()["invoices"] == []
    with freeze_time("2026-04-17 00:00:00"):
        assert admin.get(f"/api/v1/invoices/{iid}").get_json()["overdue"] is True
        assert [i["id"] for i in admin.get("/api/v1/invoices?overdue=true").get_json()["invoices"]] == [iid]
        assert admin.get("/api/v1/invoices?overdue=false").get_json()["invoices"] == []
        assert admin.get("/api/v1/invoices?overdue=maybe").status_code == 422
    pay(admin, iid, 6325)
    with freeze_time("2026-04-30"):
        assert admin.get("/api/v1/invoices?overdue=true").get_json()["invoices"] == []


def test_two_credit_notes_credit_the_whole_invoice_and_its_gst_exactly(admin, march):
    """5 cents then 5745: per-note rounding would credit 1 + 575 = 576 of GST (0.5 → 1 and
    574.5 → 575), one cent more than the invoice's 575. The running total keeps it whole."""
    ids = lines_of(march)
    with freeze_time("2026-04-20"):
        first = admin.post(f"/api/v1/invoices/{march['id']}/credit-notes", json={
            "reason": "Wrong plan for a day", "lines": [{"line_id": ids["plan_base"], "amount_cents": 5}]})
        assert first.status_code == 201, first.get_json()
        second = admin.post(f"/api/v1/invoices/{march['id']}/credit-notes", json={
            "reason": "Cancelled in full", "lines": [
                {"line_id": ids["plan_base"], "amount_cents": 4995},
                {"line_id": ids["addon"], "amount_cents": 750}]})
    a, b = first.get_json(), second.get_json()
    assert {k: a[k] for k in ("number", "invoice_id", "issued_on", "currency", "subtotal_cents",
                              "tax_cents", "total_cents")} == {
        "number": "CN-000001", "invoice_id": march["id"], "issued_on": "2026-04-20",
        "currency": "AUD", "subtotal_cents": 5, "tax_cents": 1, "total_cents": 6}
    assert (b["number"], b["subtotal_cents"], b["tax_cents"], b["total_cents"]) == (
        "CN-000002", 5745, 574, 6319)
    assert a["tax_cents"] + b["tax_cents"] == march["tax_cents"] == 575
    assert a["total_cents"] + b["total_cents"] == march["total_cents"]
    assert [l["amount_cents"] for l in b["lines"]] == [4995, 750]
    inv = admin.get(f"/api/v1/invoices/{march['id']}").get_json()
    # Nothing is owed any more: the invoice is settled by the credit notes.
    assert (inv["amount_credited_cents"], inv["amount_due_cents"], inv["status"], inv["paid_on"]) == (
        6325, 0, "paid", "2026-04-20")
    # The lines and tax of the issued invoice never change.
    assert inv["lines"] == march["lines"] and inv["tax_cents"] == 575


def test_a_line_can_never_be_credited_beyond_what_is_left_of_it(admin, march):
    ids = lines_of(march)
    url = f"/api/v1/invoices/{march['id']}/credit-notes"
    assert admin.post(url, json={"reason": "r", "lines": [
        {"line_id": ids["addon"], "amount_cents": 700}]}).status_code == 201
    r = admin.post(url, json={"reason": "r", "lines": [{"line_id": ids["addon"], "amount_cents": 51}]})
    assert r.status_code == 422
    assert r.get_json()["error"]["fields"] == {
        "lines[0].amount_cents": "is more than what is left of the line (50 cents)"}
    for bad in ([{"line_id": ids["tax"], "amount_cents": 1}], [{"line_id": 999999, "amount_cents": 1}],
                [{"line_id": ids["addon"], "amount_cents": 0}], [], "x",
                [{"line_id": ids["addon"], "amount_cents": 1}, {"line_id": ids["addon"], "amount_cents": 1}]):
        assert admin.post(url, json={"reason": "r", "lines": bad}).status_code == 422, bad
    assert admin.post(url, json={"lines": [{"line_id": ids["addon"], "amount_cents": 1}]}).status_code == 422
    assert admin.post(url, json={"reason": "r", "refund": "yes",
                                 "lines": [{"line_id": ids["addon"], "amount_cents": 1}]}).status_code == 422
    # No number was used up by the refused ones.
    ok = admin.post(url, json={"reason": "r", "lines": [{"line_id": ids["addon"], "amount_cents": 50}]})
    assert ok.get_json()["number"] == "CN-000002"


def test_credit_notes_on_a_draft_or_void_invoice_are_409(admin, acme, march):
    with freeze_time("2026-05-02"):
        admin.post("/api/v1/invoices/rollup", json={"period": "2026-04"})
    draft = admin.get("/api/v1/invoices?status=draft").get_json()["invoices"][0]
    draft_lines = admin.get(f"/api/v1/invoices/{draft['id']}").get_json()["lines"]
    r = admin.post(f"/api/v1/invoices/{draft['id']}/credit-notes", json={
        "reason": "r", "lines": [{"line_id": draft_lines[0]["id"], "amount_cents": 1}]})
    assert r.status_code == 409
    admin.post(f"/api/v1/invoices/{march['id']}/transition", json={"to": "void"})
    r = admin.post(f"/api/v1/invoices/{march['id']}/credit-notes", json={
        "reason": "r", "lines": [{"line_id": lines_of(march)["addon"], "amount_cents": 1}]})
    assert r.status_code == 409


def test_a_part_paid_invoice_credit_comes_off_what_it_owes_first(admin, acme, march):
    pay(admin, march["id"], 6000)  # owes 325
    with freeze_time("2026-04-21"):
        r = admin.post(f"/api/v1/invoices/{march['id']}/credit-notes", json={
            "reason": "Storage was down", "lines": [{"line_id": lines_of(march)["addon"], "amount_cents": 750}]})
    note = r.get_json()
    assert (note["total_cents"], note["against_invoice_cents"], note["to_balance_cents"],
            note["refund_cents"]) == (825, 325, 500, 0)
    inv = admin.get(f"/api/v1/invoices/{march['id']}").get_json()
    assert (inv["status"], inv["paid_on"], inv["amount_due_cents"]) == ("paid", "2026-04-21", 0)
    from portal.extensions import db
    from portal.models import Tenant
    db.session.expire_all()
    assert db.session.get(Tenant, acme.id).credit_balance_cents == 500


def test_a_credit_balance_pays_the_next_invoice_oldest_first(admin, acme, march, database):
    from portal.models import Tenant

    pay(admin, march["id"], 6325)
    with freeze_time("2026-04-21"):
        note = admin.post(f"/api/v1/invoices/{march['id']}/credit-notes", json={
            "reason": "Goodwill", "lines": [{"line_id": lines_of(march)["plan_base"], "amount_cents": 5000}]}).get_json()
    assert (note["total_cents"], note["to_balance_cents"]) == (5500, 5500)
    database.session.expire_all()
    assert database.session.get(Tenant, acme.id).credit_balance_cents == 5500

    april = invoice_for(admin, acme, "2026-04", issue_on="2026-05-02")
    assert (april["total_cents"], april["credit_applied_cents"], april["amount_due_cents"],
            april["status"]) == (6325, 5500, 825, "issued")
    # Lines and tax untouched: the credit is an allocation, not a discount.
    assert [l["amount_cents"] for l in april["lines"]] == [5000, 750, 575]
    database.session.expire_all()
    assert database.session.get(Tenant, acme.id).credit_balance_cents == 0
    # The next payment only needs what is left.
    assert pay(admin, april["id"], 826, paid_on="2026-05-03").status_code == 422
    assert pay(admin, april["id"], 825, paid_on="2026-05-03").status_code == 201
    assert admin.get(f"/api/v1/invoices/{april['id']}").get_json()["status"] == "paid"


def test_a_new_balance_goes_to_already_issued_unpaid_invoices(admin, acme, march, database):
    from portal.models import Tenant

    april = invoice_for(admin, acme, "2026-04", issue_on="2026-05-02")
    pay(admin, march["id"], 6325)
    with freeze_time("2026-05-03"):
        admin.post(f"/api/v1/invoices/{march['id']}/credit-notes", json={
            "reason": "Goodwill", "lines": [{"line_id": lines_of(march)["addon"], "amount_cents": 100}]})
    inv = admin.get(f"/api/v1/invoices/{april['id']}").get_json()
    assert (inv["credit_applied_cents"], inv["amount_due_cents"]) == (110, 6215)
    database.session.expire_all()
    assert database.session.get(Tenant, acme.id).credit_balance_cents == 0


def test_a_refund_is_capped_at_what_was_paid_and_marked_when_paid_out(admin, acme, march, database):
    from portal.models import Tenant

    url = f"/api/v1/invoices/{march['id']}/credit-notes"
    ids = lines_of(march)
    pay(admin, march["id"], 6325)
    # Everything credited: 6325 back, all of it paid, so all of it may be refunded...
    with freeze_time("2026-04-21"):
        r = admin.post(url, json={"reason": "Refund part", "refund": True,
                                  "lines": [{"line_id": ids["plan_base"], "amount_cents": 3000}]})
    note = r.get_json()
    assert r.status_code == 201
    assert (note["total_cents"], note["refund_cents"], note["to_balance_cents"], note["refunded_on"]) == (
        3300, 3300, 0, None)
    database.session.expire_all()
    assert database.session.get(Tenant, acme.id).credit_balance_cents == 0

    # Mark it paid out; twice is a conflict.
    with freeze_time("2026-04-25"):
        done = admin.post(f"/api/v1/credit-notes/{note['id']}/refund", json={})
        assert done.status_code == 200 and done.get_json()["refunded_on"] == "2026-04-25"
        assert admin.post(f"/api/v1/credit-notes/{note['id']}/refund", json={}).status_code == 409


def test_a_refund_beyond_what_was_paid_and_not_refunded_is_422(admin, acme, march):
    url = f"/api/v1/invoices/{march['id']}/credit-notes"
    ids = lines_of(march)
    pay(admin, march["id"], 1000)
    # Owes 5325; a credit of 5500 leaves 175 beyond what was due; 1000 was paid: refundable.
    r = admin.post(url, json={"reason": "a", "refund": True,
                              "lines": [{"line_id": ids["plan_base"], "amount_cents": 5000}]})
    assert r.status_code == 201 and r.get_json()["refund_cents"] == 175
    # The rest of the invoice: 825 more beyond what is due; 1000 − 175 = 825 left to refund.
    r = admin.post(url, json={"reason": "b", "refund": True,
                              "lines": [{"line_id": ids["addon"], "amount_cents": 750}]})
    assert r.status_code == 201 and r.get_json()["refund_cents"] == 825
    # Nothing left of any line now; on a fresh invoice paid by credit only, a refund is 422.


def test_a_refund_of_more_than_was_paid_is_refused(admin, acme, march, database):
    ids = lines_of(march)
    pay(admin, march["id"], 6325)
    with freeze_time("2026-04-21"):
        # Balance 5500 from a goodwill credit pays most of April.
        admin.post(f"/api/v1/invoices/{march['id']}/credit-notes", json={
            "reason": "Goodwill", "lines": [{"line_id": ids["plan_base"], "amount_cents": 5000}]})
    april = invoice_for(admin, acme, "2026-04", issue_on="2026-05-02")
    pay(admin, april["id"], 25, paid_on="2026-05-03")  # owes 800 now; 25 paid
    april_ids = lines_of(april)
    # Credit 2000 + GST = 2200 on April: 800 comes off, 1400 beyond; only 25 was paid: 422.
    r = admin.post(f"/api/v1/invoices/{april['id']}/credit-notes", json={
        "reason": "x", "refund": True, "lines": [{"line_id": april_ids["plan_base"], "amount_cents": 2000}]})
    assert r.status_code == 422
    assert r.get_json()["error"]["fields"] == {"refund": (
        "the refund would be 1400 cents but only 25 cents were paid on this invoice and not yet refunded")}
    # Without refund it becomes credit balance instead.
    r = admin.post(f"/api/v1/invoices/{april['id']}/credit-notes", json={
        "reason": "x", "lines": [{"line_id": april_ids["plan_base"], "amount_cents": 2000}]})
    assert r.status_code == 201 and r.get_json()["to_balance_cents"] == 1400
    # A credit note that owes no refund cannot be marked refunded.
    assert admin.post(f"/api/v1/credit-notes/{r.get_json()['id']}/refund", json={}).status_code == 409


def test_credit_note_lists_filters_and_pdf(admin, acme, march):
    globex = make_tenant("globex", "Globex")
    make_deployment(globex, plan_code="studio", starts_on=date(2026, 3, 1))
    other = invoice_for(admin, globex)
    for inv in (march, other):
        admin.post(f"/api/v1/invoices/{inv['id']}/credit-notes", json={
            "reason": "Outage on 3 March", "lines": [{"line_id": lines_of(inv)["plan_base"], "amount_cents": 1000}]})
    assert len(admin.get("/api/v1/credit-notes").get_json()["credit_notes"]) == 2
    (mine,) = admin.get("/api/v1/credit-notes?tenant=acme").get_json()["credit_notes"]
    assert admin.get(f"/api/v1/credit-notes?invoice={other['id']}").get_json()["credit_notes"][0][
        "tenant_id"] == globex.id
    assert admin.get("/api/v1/credit-notes?invoice=abc").status_code == 422
    page = admin.get("/api/v1/credit-notes?per_page=1").get_json()
    assert len(page["credit_notes"]) == 1 and page["next"].startswith("/api/v1/credit-notes?per_page=1&cursor=")
    rest = admin.get(page["next"]).get_json()
    assert len(rest["credit_notes"]) == 1 and rest["next"] is None
    assert rest["credit_notes"][0]["id"] < page["credit_notes"][0]["id"]
    assert admin.get(f"/api/v1/credit-notes/{mine['id']}").get_json() == mine
    r = admin.get(f"/api/v1/credit-notes/{mine['id']}/pdf")
    assert r.status_code == 200 and r.headers["Content-Disposition"] == 'attachment; filename="CN-000001.pdf"'
    text = pdf_text(r.data)
    for needle in ("Adjustment note", "CN-000001", march["number"], "2 April 2026",
                   "Arcadia Cloud Pty Ltd", "ABN 53 004 085 616", "Acme AI Pty Ltd", "1 Test St",
                   "Outage on 3 March", "GST adjusted", "$10.00", "$1.00", "$11.00 AUD"):
        assert needle in text, needle


def test_a_tenant_sees_its_own_payments_and_credit_notes_and_never_anothers(admin, api_as, acme, march):
    globex = make_tenant("globex", "Globex")
    make_deployment(globex, plan_code="studio", starts_on=date(2026, 3, 1))
    other = invoice_for(admin, globex)
    notes = {}
    for inv in (march, other):
        pay(admin, inv["id"], 100)
        notes[inv["id"]] = admin.post(f"/api/v1/invoices/{inv['id']}/credit-notes", json={
            "reason": "r", "lines": [{"line_id": lines_of(inv)["plan_base"], "amount_cents": 10}]}).get_json()["id"]
    tenant = api_as(make_user("tenant_admin", tenant=acme))
    assert [p["amount_cents"] for p in tenant.get(f"/api/v1/invoices/{march['id']}/payments").get_json()["payments"]] == [100]
    listed = tenant.get("/api/v1/credit-notes").get_json()["credit_notes"]
    assert [n["id"] for n in listed] == [notes[march["id"]]]
    assert tenant.get("/api/v1/credit-notes?tenant=globex").get_json()["credit_notes"] == listed
    assert tenant.get(f"/api/v1/credit-notes?invoice={other['id']}").get_json()["credit_notes"] == []
    assert tenant.get(f"/api/v1/credit-notes/{notes[march['id']]}/pdf").status_code == 200
    theirs = notes[other["id"]]
    for url in (f"/api/v1/credit-notes/{theirs}", f"/api/v1/credit-notes/{theirs}/pdf",
                f"/api/v1/invoices/{other['id']}/payments", "/api/v1/credit-notes/999999"):
        r = tenant.get(url)
        assert r.status_code == 404 and r.get_json()["error"]["code"] == "not_found", url
    for url, body in ((f"/api/v1/invoices/{other['id']}/payments", {"amount_cents": 1, "paid_on": "2026-04-10", "method": "card"}),
                      (f"/api/v1/invoices/{other['id']}/credit-notes", {"reason": "r", "lines": []}),
                      (f"/api/v1/credit-notes/{theirs}/refund", {})):
        assert tenant.post(url, json=body).status_code == 404, url
    # Its own: the role may not act.
    assert tenant.post(f"/api/v1/invoices/{march['id']}/payments", json={
        "amount_cents": 1, "paid_on": "2026-04-10", "method": "card"}).status_code == 403
    assert tenant.post(f"/api/v1/invoices/{march['id']}/credit-notes", json={
        "reason": "r", "lines": []}).status_code == 403


def test_the_pdf_says_what_is_owed_part_paid_then_paid(admin, acme, march):
    iid = march["id"]
    before = pdf_text(admin.get(f"/api/v1/invoices/{iid}/pdf").data)
    assert "AMOUNT DUE" in before and "$63.25 AUD" in before and "Paid" not in before
    pay(admin, iid, 2000, paid_on="2026-04-05")
    part = pdf_text(admin.get(f"/api/v1/invoices/{iid}/pdf").data)  # the stored one went stale
    assert "Tax invoice" in part
    assert "Paid" in part and "-$20.00" in part and "5 April 2026" in part
    assert re.search(r"Amount due\s+\$43\.25 AUD", part)
    pay(admin, iid, 4325, paid_on="2026-04-12")
    paid = pdf_text(admin.get(f"/api/v1/invoices/{iid}/pdf").data)
    assert "Paid on 12 April 2026" in paid and "Paid in full on 12 April 2026" in paid
    assert "amount due" not in paid.lower() and "$43.25 AUD" not in paid
    assert "$70.64" not in paid and "$63.25 AUD" in paid  # the tax invoice's total stays


def test_the_pdf_shows_credit_applied_and_the_credit_notes(admin, acme, march):
    pay(admin, march["id"], 6325)
    with freeze_time("2026-04-21"):
        admin.post(f"/api/v1/invoices/{march['id']}/credit-notes", json={
            "reason": "Goodwill", "lines": [{"line_id": lines_of(march)["plan_base"], "amount_cents": 1000}]})
    april = invoice_for(admin, acme, "2026-04", issue_on="2026-05-02")
    text = pdf_text(admin.get(f"/api/v1/invoices/{april['id']}/pdf").data)
    assert "Credit applied" in text and "-$11.00" in text and "$52.25 AUD" in text
    march_text = pdf_text(admin.get(f"/api/v1/invoices/{march['id']}/pdf").data)
    assert "CN-000001" in march_text and "-$11.00" in march_text


def test_an_issued_invoice_keeps_the_tax_name_and_rate_it_was_issued_with(app, admin, acme, march,
                                                                          browser, monkeypatch):
    monkeypatch.setitem(app.config, "TAX_NAME", "VAT")
    monkeypatch.setitem(app.config, "TAX_RATE", __import__("decimal").Decimal("0.20"))
    text = pdf_text(admin.get(f"/api/v1/invoices/{march['id']}/pdf").data)
    assert "GST 10%" in text and "Total includes GST of $5.75" in text and "VAT" not in text
    # Credit notes use the invoice's rate, not today's.
    r = admin.post(f"/api/v1/invoices/{march['id']}/credit-notes", json={
        "reason": "r", "lines": [{"line_id": lines_of(march)["addon"], "amount_cents": 750}]})
    assert r.get_json()["tax_cents"] == 75
    browser.login("admin@example.com")
    html = browser.get(f"/invoices/{march['id']}").get_data(as_text=True)
    assert "<th>GST 10%</th>" in html and "VAT" not in html


HUGE = 10**30


@pytest.mark.parametrize("method, path, body", [
    ("get", f"/api/v1/credit-notes/{HUGE}", None),
    ("get", f"/api/v1/credit-notes/{HUGE}/pdf", None),
    ("get", f"/api/v1/invoices/{HUGE}/payments", None),
    ("get", "/api/v1/credit-notes?invoice=99999999999", None),
    ("get", "/api/v1/credit-notes?page=0", None),
    ("post", f"/api/v1/invoices/{HUGE}/payments", {"amount_cents": 1, "paid_on": "2026-04-10", "method": "card"}),
    ("post", f"/api/v1/credit-notes/{HUGE}/refund", {}),
    ("post", "/api/v1/invoices/{id}/payments", {"amount_cents": HUGE, "paid_on": "2026-04-10", "method": "card"}),
    ("post", "/api/v1/invoices/{id}/payments", {"amount_cents": 1, "paid_on": "0001-01-01", "method": "card",
                                                "reference": "x" * 10_000}),
    ("post", "/api/v1/invoices/{id}/credit-notes", {"reason": "r", "lines": [{"line_id": HUGE, "amount_cents": 1}]}),
    ("post", "/api/v1/invoices/{id}/credit-notes", {"reason": "r", "lines": [{"line_id": 1, "amount_cents": HUGE}]}),
    ("post", "/api/v1/invoices/{id}/credit-notes", {"reason": "r" * 5000, "lines": [[1, 2]]}),
])
def test_hostile_input_is_4xx_with_the_error_shape(admin, march, method, path, body):
    path = path.replace("{id}", str(march["id"]))
    r = admin.get(path) if method == "get" else admin.post(path, json=body)
    assert 400 <= r.status_code < 500, (path, r.status_code)
    assert set(r.get_json()["error"]) == {"code", "message", "fields"}
