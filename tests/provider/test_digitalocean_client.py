"""The DigitalOcean client against the fake API on 127.0.0.1: no network, no app, no database."""
import socket
from datetime import datetime, timezone

import pytest

from portal.provider.digitalocean import (
    Balance,
    BillingEntry,
    DigitalOceanClient,
    Droplet,
    InvoiceItem,
    InvoiceSummary,
    ProviderError,
    Volume,
)
from tests.fakes.digitalocean import (
    FakeDigitalOcean,
    balance_json,
    billing_entry_json,
    droplet_json,
    invoice_item_json,
    invoice_json,
    volume_json,
)

TOKEN = "test-token"
UTC = timezone.utc
INVOICE = "22737513-0ea7-4206-8ceb-98a575af7681"


class RecordingSleep:
    def __init__(self):
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def fake():
    with FakeDigitalOcean(token=TOKEN) as server:
        yield server


@pytest.fixture
def sleep():
    return RecordingSleep()


@pytest.fixture
def make_client(fake, sleep):
    clients = []

    def make(**kwargs):
        kwargs.setdefault("sleep", sleep)
        client = DigitalOceanClient(kwargs.pop("token", TOKEN), base_url=fake.url, **kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def client(make_client):
    return make_client()


def pages_requested(fake, path):
    return [query.get("page") for _, p, query, _ in fake.requests if p == path]


# --------------------------------------------------------------------------- listings


def test_droplets_across_three_pages_with_exact_fields(fake, client):
    fake.droplets = [
        droplet_json(3164444, "example.com", region="nyc3", size="s-1vcpu-1gb", tags=["web"],
                     created_at="2020-07-21T18:37:44Z"),
        droplet_json(2, "db-1", status="off", tags=("db", "tenant:acme")),
        droplet_json(3, "new-1", status="new", created_at=None),
        droplet_json(4, "web-4"),
        droplet_json(5, "web-5", region="sgp1", size="s-4vcpu-8gb", status="archive"),
    ]
    fake.per_page_max = 2

    droplets = client.droplets()

    assert droplets[0] == Droplet(
        provider_id="3164444",
        name="example.com",
        region="nyc3",
        size="s-1vcpu-1gb",
        status="active",
        tags=("web",),
        created_at=datetime(2020, 7, 21, 18, 37, 44, tzinfo=UTC),
    )
    assert droplets[1] == Droplet("2", "db-1", "syd1", "s-2vcpu-4gb", "off", ("db", "tenant:acme"),
                                  datetime(2026, 3, 1, tzinfo=UTC))
    assert droplets[2].created_at is None and droplets[2].status == "new"
    assert [d.provider_id for d in droplets] == ["3164444", "2", "3", "4", "5"]
    assert (droplets[4].region, droplets[4].size, droplets[4].status) == ("sgp1", "s-4vcpu-8gb", "archive")
    assert droplets[0].created_at.utcoffset().total_seconds() == 0

    assert pages_requested(fake, "/v2/droplets") == ["1", "2", "3"]
    method, _, first_query, authorization = fake.requests[0]
    assert method == "GET"
    assert first_query == {"per_page": "200", "page": "1"}
    assert authorization == f"Bearer {TOKEN}"


def test_client_sends_accept_and_user_agent(fake, client):
    seen = {}
    original = fake._respond

    def spy(request):
        seen.update(request.headers)
        return original(request)

    fake._respond = spy
    client.droplets()
    assert seen["Accept"] == "application/json"
    assert "arcadia-portal" in seen["User-Agent"]


def test_empty_listing(fake, client):
    assert client.droplets() == []
    assert client.volumes() == []


def test_volumes(fake, client):
    fake.volumes = [
        volume_json("506f78a4-e098-11e5-ad9f-000f53306ae1", "example", region="nyc1", size_gb=10,
                    tags=["aninterestingtag"]),
        volume_json("7724db7c-e098-11e5-b522-000f53304e51", "data", droplet_ids=[3164444]),
    ]
    fake.per_page_max = 1

    assert client.volumes() == [
        Volume(
            provider_id="506f78a4-e098-11e5-ad9f-000f53306ae1",
            name="example",
            region="nyc1",
            size="10gb",
            status="available",
            tags=("aninterestingtag",),
            droplet_ids=(),
            created_at=datetime(2026, 3, 1, tzinfo=UTC),
        ),
        Volume(
            provider_id="7724db7c-e098-11e5-b522-000f53304e51",
            name="data",
            region="syd1",
            size="100gb",
            status="attached",
            tags=(),
            droplet_ids=("3164444",),
            created_at=datetime(2026, 3, 1, tzinfo=UTC),
        ),
    ]
    assert pages_requested(fake, "/v2/volumes") == ["1", "2"]


def test_billing_history_and_invoices(fake, client):
    fake.billing_history = [
        billing_entry_json("Invoice for May 2018", "12.34", invoice_id="123", invoice_uuid="example-uuid",
                           date="2018-06-01T08:44:38Z"),
        billing_entry_json("Payment (MC 2018)", "-12.34", date="2018-06-02T08:44:38Z", type="Payment"),
    ]
    fake.invoices = [invoice_json(INVOICE, "2019-12", "12.34"), invoice_json("second", "2020-01", "0.00")]
    fake.per_page_max = 1

    assert client.billing_history() == [
        BillingEntry("Invoice for May 2018", 1234, "123", "example-uuid",
                     datetime(2018, 6, 1, 8, 44, 38, tzinfo=UTC), "Invoice"),
        BillingEntry("Payment (MC 2018)", -1234, None, None,
                     datetime(2018, 6, 2, 8, 44, 38, tzinfo=UTC), "Payment"),
    ]
    assert client.invoices() == [
        InvoiceSummary(INVOICE, "2019-12", 1234),
        InvoiceSummary("second", "2020-01", 0),
    ]


def test_invoice_items_paginated(fake, client):
    fake.invoice_items = {
        INVOICE: [
            invoice_item_json("Droplets", "2353624", "a56e086a317d8410c8b4cfd1f4dc9f82", "12.34",
                              resource_uuid="711157cb-37c8-4817-b371-44fa3504a39c",
                              start_time="2020-01-01T00:00:00Z", end_time="2020-02-01T00:00:00Z"),
            invoice_item_json("Volumes", "", "data (100 GiB)", "10.00", duration="", duration_unit="",
                              project_name="Tenants", category=""),
            invoice_item_json("Droplets", "2353625", "web-2", "0.005"),
        ],
        "other": [invoice_item_json("Droplets", "1", "not this one", "1.00")],
    }
    fake.per_page_max = 2

    items = client.invoice_items(INVOICE)

    assert items == [
        InvoiceItem(
            product="Droplets",
            resource_id="2353624",
            resource_uuid="711157cb-37c8-4817-b371-44fa3504a39c",
            description="a56e086a317d8410c8b4cfd1f4dc9f82",
            amount_cents=1234,
            duration="744",
            duration_unit="Hours",
            start_time=datetime(2020, 1, 1, tzinfo=UTC),
            end_time=datetime(2020, 2, 1, tzinfo=UTC),
            project_name=None,
            category="iaas",
        ),
        InvoiceItem("Volumes", None, None, "data (100 GiB)", 1000, None, None,
                    datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC), "Tenants", None),
        InvoiceItem("Droplets", "2353625", None, "web-2", 1, "744", "Hours",
                    datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC), None, "iaas"),
    ]
    assert pages_requested(fake, f"/v2/customers/my/invoices/{INVOICE}") == ["1", "2"]


def test_unknown_invoice_is_a_404_with_the_message(fake, client):
    with pytest.raises(ProviderError) as caught:
        client.invoice_items("no-such-invoice")
    assert caught.value.status == 404
    assert "404" in caught.value.message
    assert "could not be found" in caught.value.message


# --------------------------------------------------------------------------- pagination safety


def test_next_link_on_another_host_is_requested_against_the_base_url(fake, client):
    fake.droplets = [droplet_json(i, f"web-{i}") for i in range(1, 4)]
    fake.per_page_max = 2
    fake.link_host = "https://api.evil.example"

    assert [d.provider_id for d in client.droplets()] == ["1", "2", "3"]

    # Page 2 came from the fake (so from the base URL), with the link's own query.
    assert fake.requests[1][1:3] == ("/v2/droplets", {"page": "2", "per_page": "2"})
    assert [r[3] for r in fake.requests] == [f"Bearer {TOKEN}"] * 2


def test_a_next_link_that_repeats_is_a_provider_error(fake, client):
    looping = {
        "droplets": [droplet_json(1, "web-1")],
        "links": {"pages": {"next": "https://api.digitalocean.com/v2/droplets?page=1&per_page=200"}},
        "meta": {"total": 1},
    }
    fake.fail_next("/v2/droplets", json=looping)

    with pytest.raises(ProviderError, match="loops"):
        client.droplets()
    assert len(fake.requests) == 1


def test_page_limit_guards_against_endless_pagination(fake, client, monkeypatch):
    import portal.provider.digitalocean as module

    monkeypatch.setattr(module, "MAX_PAGES", 3)
    fake.droplets = [droplet_json(i, f"web-{i}") for i in range(1, 6)]
    fake.per_page_max = 1

    with pytest.raises(ProviderError, match="did not end after 3 pages"):
        client.droplets()
    assert len(fake.requests) == 3


# --------------------------------------------------------------------------- retries


def test_a_single_429_is_waited_out_and_retried(fake, client, sleep):
    fake.droplets = [droplet_json(1, "web-1")]
    fake.fail_next("/v2/droplets", status=429, headers={"Retry-After": "1"})

    assert [d.name for d in client.droplets()] == ["web-1"]
    assert sleep.calls == [1.0]
    assert pages_requested(fake, "/v2/droplets") == ["1", "1"]


def test_429s_beyond_max_retries_raise(fake, make_client, sleep):
    client = make_client(max_retries=2)
    for _ in range(3):
        fake.fail_next("/v2/droplets", status=429, headers={"Retry-After": "0"})
    fake.droplets = [droplet_json(1, "web-1")]

    with pytest.raises(ProviderError) as caught:
        client.droplets()
    assert caught.value.status == 429
    assert caught.value.message.startswith("DigitalOcean rate limit")
    assert sleep.calls == [0.0, 0.0]
    assert len(fake.requests) == 3


@pytest.mark.parametrize(
    "header, waited",
    [
        ({"Retry-After": "0.5"}, 0.5),
        ({"Retry-After": "soon"}, 1.0),
        ({"Retry-After": "-3"}, 1.0),
        ({}, 1.0),
        ({"Retry-After": "3600"}, 60.0),
    ],
)
def test_retry_after_parsing_default_and_cap(fake, client, sleep, header, waited):
    fake.fail_next("/v2/customers/my/balance", status=429, headers=header)
    client.balance()
    assert sleep.calls == [waited]


def test_a_500_then_success_is_retried(fake, client, sleep):
    fake.volumes = [volume_json("v-1", "data")]
    fake.fail_next("/v2/volumes", status=500)

    assert [v.provider_id for v in client.volumes()] == ["v-1"]
    assert len(sleep.calls) == 1 and 0 < sleep.calls[0] <= 1
    assert len(fake.requests) == 2


def test_gateway_errors_are_retried_then_raised(fake, make_client, sleep):
    client = make_client(max_retries=3)
    for status in (502, 503, 504, 503):
        fake.fail_next("/v2/customers/my/balance", status=status)

    with pytest.raises(ProviderError) as caught:
        client.balance()
    assert caught.value.status == 503
    assert "after 4 attempts" in caught.value.message
    assert sleep.calls == [0.5, 1.0, 2.0]
    assert len(fake.requests) == 4


# --------------------------------------------------------------------------- failures


def test_a_rejected_token_is_a_provider_error_with_status_401(fake, make_client, sleep):
    client = make_client(token="wrong-token")
    with pytest.raises(ProviderError) as caught:
        client.droplets()
    assert caught.value.status == 401
    assert "token" in caught.value.message
    assert "Unable to authenticate you." in caught.value.message
    assert sleep.calls == []  # not retried


def test_a_403_is_also_a_rejected_token(fake, client):
    fake.fail_next("/v2/droplets", status=403)
    with pytest.raises(ProviderError, match="rejected the API token") as caught:
        client.droplets()
    assert caught.value.status == 403


def test_other_4xx_carries_status_and_message(fake, client, sleep):
    fake.fail_next("/v2/volumes", status=422,
                   json={"id": "unprocessable_entity", "message": "per_page is too big"})
    with pytest.raises(ProviderError) as caught:
        client.volumes()
    assert caught.value.status == 422
    assert "422" in caught.value.message and "per_page is too big" in caught.value.message
    assert sleep.calls == []


def test_a_body_that_is_not_json_is_a_provider_error(fake, client):
    fake.fail_next("/v2/customers/my/balance", body="<html>not json", status=200)
    with pytest.raises(ProviderError, match="unexpected response"):
        client.balance()


def test_json_without_the_expected_list_is_a_provider_error(fake, client):
    fake.fail_next("/v2/droplets", json={"links": {}, "meta": {"total": 0}})
    with pytest.raises(ProviderError, match='unexpected response.*"droplets"'):
        client.droplets()


def test_a_read_timeout_is_a_provider_error(fake, make_client):
    client = make_client(timeout=0.2)
    fake.fail_next("/v2/droplets", delay=1.0)
    with pytest.raises(ProviderError) as caught:
        client.droplets()
    assert "timeout" in caught.value.message.lower()
    assert caught.value.status is None


def test_a_connection_error_is_a_provider_error(sleep):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with DigitalOceanClient(TOKEN, base_url=f"http://127.0.0.1:{port}", sleep=sleep) as client:
        with pytest.raises(ProviderError, match="Could not connect to DigitalOcean"):
            client.droplets()


# --------------------------------------------------------------------------- money


@pytest.mark.parametrize(
    "amount, cents",
    [("12.34", 1234), ("-5.00", -500), ("0.005", 1), ("0.004", 0), ("-0.005", -1), ("0", 0), ("1e3", 100000),
     ("123456789012.99", 12345678901299), (" 7.1 ", 710)],
)
def test_balance_cents_from_decimal_strings_half_up(fake, client, amount, cents):
    fake.balance = balance_json(month_to_date_usage=amount)
    balance = client.balance()
    assert balance.month_to_date_usage_cents == cents
    assert isinstance(balance.month_to_date_usage_cents, int)


def test_balance_fields(fake, client):
    fake.balance = balance_json(month_to_date_balance="23.44", account_balance="-5.00",
                                month_to_date_usage="11.21", generated_at="2019-07-09T15:01:12Z")
    assert client.balance() == Balance(
        month_to_date_usage_cents=1121,
        month_to_date_balance_cents=2344,
        account_balance_cents=-500,
        generated_at=datetime(2019, 7, 9, 15, 1, 12, tzinfo=UTC),
    )


@pytest.mark.parametrize("bad", [None, "", "abc", "NaN", "Infinity"])
def test_missing_or_malformed_balance_amount_is_not_assumed_zero(fake, client, bad):
    fake.balance = balance_json(account_balance=None)
    if bad is not None:
        fake.balance["account_balance"] = bad
    with pytest.raises(ProviderError, match="account_balance"):
        client.balance()


def test_a_float_amount_is_refused(fake, client):
    fake.balance = balance_json()
    fake.balance["month_to_date_usage"] = 11.21
    with pytest.raises(ProviderError, match="float"):
        client.balance()


def test_missing_invoice_amount_is_an_error(fake, client):
    fake.invoices = [{"invoice_uuid": INVOICE, "invoice_period": "2019-12"}]
    with pytest.raises(ProviderError, match="amount is missing"):
        client.invoices()


# --------------------------------------------------------------------------- construction


def test_context_manager_closes_the_http_client(fake, sleep):
    with DigitalOceanClient(TOKEN, base_url=fake.url, sleep=sleep) as client:
        client.droplets()
    assert client._http.is_closed


def test_an_empty_token_is_refused():
    with pytest.raises(ProviderError, match="token"):
        DigitalOceanClient("  ")
