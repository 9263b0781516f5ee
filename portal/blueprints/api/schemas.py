"""Every API operation's request and response shapes, in one place, as JSON Schema (2020-12).

The same dicts do two jobs, so they cannot drift apart:

- ``validate_request`` (a ``before_request`` hook of the API blueprint) checks each JSON body
  structurally against its operation's ``request`` schema before the view runs: a body that is
  not a JSON object is the contract's 400, a field of the wrong type is a 422 whose
  ``error.fields`` names it (``events[3].quantity``). The services keep the precise checks
  (ranges, dates, states, "unknown field"): these schemas are deliberately permissive.
- ``openapi.document`` turns them into the OpenAPI 3.1 document served at
  ``/api/v1/openapi.json``; the tests validate real responses against the ``responses``
  schemas, and schemathesis fuzzes the live portal from the document.

Adding a route's schema is one entry in ``OPERATIONS``, keyed by (method, Flask URL rule)::

    ("POST", f"{V1}/invoices/<int:invoice_id>/payments"): op(
        "Record a payment against an issued invoice", "invoices", {201: ref("Payment")},
        request=body({"amount_cents": INT, "paid_on": DATE_IN, "method": STR,
                      "reference": STR}),
        errors=(404, 409)),

``op(summary, tag, {status: response schema or None}, request=body({...}), query=(Param...),
errors=(extra documented error statuses,))``. Request bodies use ``body()`` (types only,
every field nullable; ``says(schema, "the service's words")`` where a service words a type
error its own way). New object shapes go in ``COMPONENTS`` (``Payment`` and ``CreditNote``
are there already, from the contract) and are referenced with ``ref("Name")``. A route in the
URL map without an entry fails ``tests/api/test_openapi.py``; an entry without a call in
``tests/e2e/test_api_contract.py``'s representative-call test fails that test.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from typing import Callable

from jsonschema import Draft202012Validator
from referencing import Registry, Resource

# -- building blocks ------------------------------------------------------------------------

STR = {"type": "string"}
INT = {"type": "integer"}
NUM = {"type": "number"}
BOOL = {"type": "boolean"}
DATE = {"type": "string", "format": "date", "examples": ["2026-05-20"]}
DATETIME = {"type": "string", "format": "date-time"}
ANY = {}


def nullable(schema: dict) -> dict:
    hoisted = {"x-message": schema["x-message"]} if "x-message" in schema else {}
    return {"anyOf": [schema, {"type": "null"}], **hoisted}


def says(schema: dict, message: str) -> dict:
    """``schema`` whose violation reads ``message`` (the service's own words for that field)."""
    return {**schema, "x-message": message}


def body(properties: dict, required: list[str] | tuple = ()) -> dict:
    """A request body: each field may also be null, which the services read as absent (and
    answer "is required" where it is)."""
    return obj({k: v if "anyOf" in v else nullable(v) for k, v in properties.items()}, required)


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def obj(properties: dict, required: list[str] | tuple = (), **extra) -> dict:
    """An object with these properties; others are allowed (the services name unknown ones)."""
    return {"type": "object", "properties": properties, "required": list(required), **extra}


def array(items: dict, **extra) -> dict:
    return {"type": "array", "items": items, **extra}


def listing(plural: str, item: dict, **more) -> dict:
    """The contract's list shape: ``{"<plural>": [...], "next": "/path?page=2" | null}``."""
    return obj({plural: array(item), "next": nullable(STR), **more}, required=[plural, "next"])


# -- the shapes the API answers with (serializers.py builds them) ---------------------------

LINE_KINDS = ["plan_base", "addon", "overage", "tax"]
RESOURCE_KINDS = ["droplet_hours", "llm_tokens", "spaces_gb"]

COMPONENTS: dict[str, dict] = {
    "Error": obj({"error": obj({
        "code": STR, "message": STR,
        "fields": {"type": "object", "additionalProperties": STR},
    }, required=["code", "message"])}, required=["error"]),
    "Line": obj({
        "id": INT, "kind": {"enum": LINE_KINDS}, "deployment_id": nullable(INT),
        "resource_kind": nullable(STR), "description": STR, "qty": nullable(NUM),
        "unit": nullable(STR), "unit_price_cents": nullable(INT), "amount_cents": INT,
    }, required=["kind", "deployment_id", "resource_kind", "description", "qty", "unit",
                 "unit_price_cents", "amount_cents"]),
    "PlanItem": obj({
        "resource_kind": STR, "included_qty": INT, "overage_price_cents": INT,
        "overage_unit": STR, "hard_cap_qty": nullable(INT),
    }, required=["resource_kind", "included_qty", "overage_price_cents", "overage_unit",
                 "hard_cap_qty"]),
    "PlanVersion": obj({
        "version": INT, "base_price_cents": INT, "currency": STR, "effective_from": DATE,
        "items": array(ref("PlanItem")),
    }, required=["version", "base_price_cents", "currency", "effective_from", "items"]),
    "Plan": obj({
        "id": INT, "code": STR, "name": STR, "description": nullable(STR),
        "versions": array(ref("PlanVersion")),
    }, required=["id", "code", "name", "versions"]),
    "Addon": obj({
        "id": INT, "code": STR, "name": STR, "price_cents": INT, "currency": STR,
        "resource_kind": STR, "qty": INT, "retired": BOOL,
    }, required=["id", "code", "name", "price_cents", "currency", "resource_kind", "qty"]),
    "Quote": obj({
        "plan_code": STR, "plan_version": INT, "currency": STR, "starts_on": DATE,
        "recurring": array(ref("Line")), "recurring_cents": INT,
        "first_invoice": obj({"lines": array(ref("Line")), "total_cents": INT},
                             required=["lines", "total_cents"]),
        "overage": array(ref("Line")), "overage_cents": INT, "all_in_monthly_cents": INT,
    }, required=["recurring", "recurring_cents", "first_invoice", "overage", "overage_cents",
                 "all_in_monthly_cents"]),
    "Subscription": obj({
        "id": INT, "plan_code": STR, "plan_version": INT,
        "addons": array(obj({"code": STR, "name": STR, "price_cents": INT,
                             "resource_kind": STR, "qty": INT}, required=["code"])),
        "starts_on": DATE, "ends_on": nullable(DATE),
    }, required=["id", "plan_code", "plan_version", "addons", "starts_on", "ends_on"]),
    "Deployment": obj({
        "id": INT, "tenant_id": INT, "name": STR, "region": STR,
        "status": {"enum": ["requested", "provisioning", "active", "suspended", "failed",
                            "decommissioned"]},
        "subscription": nullable(ref("Subscription")),
    }, required=["id", "tenant_id", "name", "region", "status", "subscription"]),
    "Region": obj({"slug": STR, "name": STR, "available": BOOL},
                  required=["slug", "name", "available"]),
    "Invoice": obj({
        "id": INT, "number": nullable(STR), "tenant_id": INT, "period_start": DATE,
        "period_end": DATE, "currency": STR, "subtotal_cents": INT, "tax_cents": INT,
        "total_cents": INT, "status": {"enum": ["draft", "issued", "paid", "void"]},
        "issued_on": nullable(DATE), "due_on": nullable(DATE), "paid_on": nullable(DATE),
        "amount_paid_cents": INT, "amount_credited_cents": INT, "credit_applied_cents": INT,
        "amount_due_cents": INT, "overdue": BOOL,
        "lines": array(ref("Line")),
    }, required=["id", "number", "tenant_id", "period_start", "period_end", "currency",
                 "subtotal_cents", "tax_cents", "total_cents", "status", "issued_on",
                 "due_on"]),
    "Payment": obj({
        "id": INT, "invoice_id": INT, "amount_cents": INT, "paid_on": DATE,
        "method": {"enum": ["bank_transfer", "card", "other"]}, "reference": nullable(STR),
    }, required=["id", "invoice_id", "amount_cents", "paid_on", "method", "reference"]),
    "CreditNote": obj({
        "id": INT, "number": STR, "invoice_id": INT, "tenant_id": INT, "reason": STR,
        "issued_on": DATE, "currency": STR, "subtotal_cents": INT, "tax_cents": INT,
        "total_cents": INT,
        "lines": array(obj({"line_id": INT, "description": STR, "amount_cents": INT},
                           required=["line_id", "amount_cents"])),
        "against_invoice_cents": INT, "to_balance_cents": INT, "refund_cents": INT,
        "refunded_on": nullable(DATE),
    }, required=["id", "number", "invoice_id", "tenant_id", "reason", "issued_on", "currency",
                 "subtotal_cents", "tax_cents", "total_cents", "lines"]),
    "Tenant": obj({
        "id": INT, "slug": STR, "name": STR, "billing_name": STR, "billing_address": STR,
        "billing_email": nullable(STR), "abn": nullable(STR),
    }, required=["id", "slug", "name", "billing_name", "billing_address", "billing_email", "abn"]),
    "User": obj({
        "id": INT, "email": STR, "role": {"enum": ["platform_admin", "tenant_admin", "tenant_viewer"]},
        "tenant": nullable(STR), "active": BOOL, "invited": BOOL,
    }, required=["id", "email", "role", "tenant", "active", "invited"]),
    "Usage": obj({"deployment_id": INT, "period": nullable(STR),
                  "usage": {"type": "object", "additionalProperties": NUM}},
                 required=["usage"]),
    "UsageResult": obj({"accepted": INT, "duplicates": INT},
                       required=["accepted", "duplicates"]),
    "RollupResult": obj({"created": INT, "skipped": INT, "rebuilt": INT},
                        required=["created", "skipped", "rebuilt"]),
    "JobRef": obj({"job_id": STR}, required=["job_id"]),
    "Job": obj({
        "id": STR, "status": STR, "progress": ANY, "result": ANY, "error": nullable(STR),
        "enqueued_at": nullable(DATETIME), "ended_at": nullable(DATETIME),
    }, required=["id", "status"]),
    "Resource": obj({
        "id": INT, "provider_id": STR, "kind": STR, "name": nullable(STR),
        "region": nullable(STR), "size": nullable(STR), "status": nullable(STR),
        "tags": array(STR), "deployment_id": nullable(INT), "last_seen_at": nullable(DATETIME),
    }, required=["id", "provider_id", "kind", "deployment_id", "last_seen_at"]),
    "Balance": obj({
        "month_to_date_usage_cents": INT, "month_to_date_balance_cents": INT,
        "account_balance_cents": INT, "generated_at": nullable(DATETIME), "currency": STR,
        "synced_at": nullable(DATETIME),
    }, required=["month_to_date_usage_cents", "month_to_date_balance_cents",
                 "account_balance_cents", "generated_at"]),
    "CostLine": obj({
        "product": STR, "provider_id": nullable(STR), "description": nullable(STR),
        "amount_cents": INT, "period": STR, "deployment_id": nullable(INT), "currency": STR,
    }, required=["product", "amount_cents", "period", "deployment_id"]),
    "Drift": obj({
        "id": INT, "kind": STR, "provider_id": nullable(STR), "deployment_id": nullable(INT),
        "observed": ANY, "recorded": ANY, "status": {"enum": ["open", "accepted", "resolved"]},
    }, required=["id", "kind", "provider_id", "deployment_id", "observed", "recorded",
                 "status"]),
    "Token": obj({
        "id": INT, "name": STR, "prefix": STR, "created_at": nullable(DATETIME),
        "expires_at": nullable(DATETIME), "last_used_at": nullable(DATETIME),
        "revoked_at": nullable(DATETIME),
    }, required=["id", "name", "expires_at"]),
    "NewToken": obj({
        "id": INT, "name": STR, "token": STR, "prefix": STR, "created_at": nullable(DATETIME),
        "expires_at": nullable(DATETIME),
    }, required=["id", "name", "token", "expires_at"]),
    "AuditEntry": obj({
        "id": INT, "at": DATETIME, "actor": nullable(STR), "action": STR,
        "object_type": nullable(STR), "object_id": ANY, "details": {"type": "object"},
    }, required=["id", "at", "actor", "action", "object_type", "object_id", "details"]),
    "Webhook": obj({"id": INT, "url": STR, "events": array(STR),
                    "created_at": nullable(DATETIME), "secret": STR},
                   required=["id", "url", "events"]),
    "WebhookDelivery": obj({
        "id": INT, "event_id": STR, "type": STR,
        "status": {"enum": ["pending", "succeeded", "failed"]}, "attempts": INT,
        "last_status_code": nullable(INT), "next_attempt_at": nullable(DATETIME),
        "delivered_at": nullable(DATETIME),
        "attempt_log": array(obj({"at": nullable(DATETIME), "status_code": nullable(INT),
                                  "duration_ms": nullable(INT), "error": nullable(STR)})),
    }, required=["id", "event_id", "type", "status", "attempts"]),
    "Redelivered": obj({"redelivered": INT}, required=["redelivered"]),
    "Health": obj({
        "status": {"enum": ["ok", "degraded"]}, "database": STR, "redis": STR,
        "worker": ANY, "scheduler": ANY,
    }, required=["status", "database", "redis"]),
}

# -- request bodies: types only; ranges, formats and states are the services' ---------------

ADDON_CODES = says(array(STR), "must be a list of codes")
DATE_IN = says({"type": "string", "examples": ["2026-05-20"]}, "must be a date as YYYY-MM-DD")
USAGE_EVENT = says(body({
    "event_id": STR, "deployment_id": INT, "resource_kind": STR, "quantity": NUM,
    "occurred_at": says({"type": "string", "examples": ["2026-04-01T10:00:00Z"]},
                        "must be an ISO 8601 timestamp"),
}), "must be an object")
_NUMBER = (int, Decimal)  # what the JSON parser makes of a number (floats become Decimal)


def _usage_batch_conforms(data: dict) -> bool:
    """True only when ``data`` is the well-formed batch a metering agent sends: exactly
    ``{"events": [...]}``, each event an object of exactly its five fields with USAGE_EVENT's
    types, and every string and number in it one that ``input_errors`` passes (no control
    character, no number beyond any field). So True proves both the schema and the edge
    check, and neither walks the body again (one batch is 5,000 values). A null or missing
    field, a bool for an integer, an extra field, anything unusual: False, and both run and
    name the problem as before."""
    from ...services.validation import MAX_NUMBER, string_problem

    if type(data) is not dict or data.keys() != _BATCH_FIELDS:
        return False
    events = data["events"]
    if type(events) is not list:
        return False
    clean_times: set[str] = set()
    for event in events:
        if type(event) is not dict or event.keys() != _EVENT_FIELDS:
            return False
        event_id, deployment_id, kind, quantity, occurred_at = (
            event["event_id"], event["deployment_id"], event["resource_kind"],
            event["quantity"], event["occurred_at"])
        if (type(event_id) is not str or string_problem(event_id) is not None
                or type(deployment_id) is not int or abs(deployment_id) > MAX_NUMBER
                or type(kind) is not str or kind not in _KINDS
                or type(occurred_at) is not str):
            return False
        if type(quantity) is int:
            if abs(quantity) > MAX_NUMBER:
                return False
        elif type(quantity) is not Decimal or not quantity.is_finite() or abs(quantity) > MAX_NUMBER:
            return False
        if occurred_at not in clean_times:  # a batch repeats its hours
            if string_problem(occurred_at) is not None:
                return False
            clean_times.add(occurred_at)
    return True


_BATCH_FIELDS = {"events"}
_EVENT_FIELDS = {"event_id", "deployment_id", "resource_kind", "quantity", "occurred_at"}
_KINDS = frozenset(RESOURCE_KINDS)  # clean words: a kind among them needs no character check


PLAN_ITEM_IN = body({
    "resource_kind": STR, "included_qty": NUM, "overage_price_cents": INT,
    "overage_unit": STR, "hard_cap_qty": NUM,
})
PLAN_VERSION_IN = body({
    "version": INT, "base_price_cents": INT, "currency": STR, "effective_from": DATE_IN,
    "items": array(PLAN_ITEM_IN),
})


# -- the operations -------------------------------------------------------------------------

@dataclass(frozen=True)
class Param:
    name: str
    schema: dict
    description: str = ""
    required: bool = False


PAGING = (Param("page", {"type": "integer", "minimum": 1}, "page number, from 1"),
          Param("per_page", {"type": "integer", "minimum": 1, "maximum": 500},
                "rows a page, at most 500 (default 50)"))
PERIOD = Param("period", {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$",
                          "examples": ["2026-04"]}, "a month, YYYY-MM")
MONTH = Param(PERIOD.name, PERIOD.schema, PERIOD.description, required=True)


@dataclass(frozen=True)
class Operation:
    summary: str
    tag: str
    responses: dict[int, dict | None]  # status → body schema (None: no JSON body)
    request: dict | None = None        # the JSON body's schema; None: no body is read
    query: tuple[Param, ...] = ()
    auth: bool = True
    content_type: str = "application/json"  # of the success answer (a PDF for documents)
    description: str = ""
    errors: tuple[int, ...] = field(default=())  # beyond those every authenticated call has
    # The 422's message from (the first bad item's index, "field: problem"), where the service
    # words it so (a usage batch names its bad event); default "field: problem".
    summarize: Callable[[int | None, str], str] | None = None
    # A cheap check whose True proves the body matches ``request``, so the validator need not
    # run (it takes 60 ms on a usage batch of 1,000 events), and that ``input_errors`` finds
    # nothing in it, so the edge check need not walk it either; False proves nothing, and
    # both then run and name the problem, so their answers are unchanged.
    conforms: Callable[[dict], bool] | None = None


def op(summary, tag, responses, request=None, query=(), **kw) -> Operation:
    return Operation(summary, tag, responses, request, tuple(query), **kw)


V1 = "/api/v1"
OPERATIONS: dict[tuple[str, str], Operation] = {
    ("GET", "/api/health"): op(
        "Liveness and database/Redis reachability", "health",
        {200: ref("Health"), 503: ref("Health")}, auth=False),
    ("GET", f"{V1}/openapi.json"): op(
        "This document (OpenAPI 3.1)", "docs", {200: {"type": "object",
                                                        "required": ["openapi", "paths"]}},
        auth=False),
    ("GET", "/api/docs"): op("This document, browsable (HTML)", "docs", {200: None},
                             auth=False, content_type="text/html"),

    # catalog
    ("GET", f"{V1}/catalog/plans"): op("The plans and their versions", "catalog",
                                        {200: listing("plans", ref("Plan"))}),
    ("GET", f"{V1}/catalog/addons"): op("The addons", "catalog",
                                         {200: listing("addons", ref("Addon"))}),
    ("POST", f"{V1}/catalog/plans"): op(
        "Create a plan with its first version", "catalog", {201: ref("Plan")},
        request=body({"code": STR, "name": STR, "description": STR,
                      "versions": array(PLAN_VERSION_IN)}), errors=(409,)),
    ("POST", f"{V1}/catalog/plans/<plan_code>/versions"): op(
        "Add a version to a plan", "catalog", {201: ref("PlanVersion")},
        request=PLAN_VERSION_IN, errors=(404, 409)),
    ("POST", f"{V1}/catalog/addons"): op(
        "Create an addon", "catalog", {201: ref("Addon")},
        request=body({"code": STR, "name": STR, "price_cents": INT, "currency": STR,
                     "resource_kind": STR, "qty": NUM}), errors=(409,)),
    ("POST", f"{V1}/catalog/addons/<addon_code>/retire"): op(
        "Retire an addon (no new subscriptions take it)", "catalog", {200: ref("Addon")},
        errors=(404, 409)),

    # quotes
    ("POST", f"{V1}/quote"): op(
        "Price a plan, addons and projected usage", "quotes", {200: ref("Quote")},
        request=body({"plan_code": STR, "addons": ADDON_CODES,
                     "projected_usage": says({
                         "type": "object", "examples": [{"llm_tokens": 1500000}],
                         "description": "resource kind → projected quantity (a number, in "
                                        "base units); the service checks each one"},
                         "must be an object of resource kind to quantity"),
                     "starts_on": DATE_IN})),

    # deployments
    ("GET", f"{V1}/deployments"): op(
        "Deployments the caller may see", "deployments",
        {200: listing("deployments", ref("Deployment"))},
        query=(Param("tenant", STR, "admins: a tenant's slug"),
               Param("status", {"enum": ["requested", "provisioning", "active", "suspended",
                                         "failed", "decommissioned"]}),
               Param("region", STR, "a region's slug, as `GET /api/v1/regions` lists them"),
               Param("name", STR, "any part of the name, in any case"),
               Param("sort", {"enum": ["name", "-name", "created", "-created", "status",
                                       "-status"]},
                     "the order: by name (default), creation or status, then id; "
                     "a leading - is descending"),
               Param("cursor", STR, "where the page starts: from a previous answer's next"),
               *PAGING)),
    ("GET", f"{V1}/regions"): op(
        "The provider's regions (available ones may host a new deployment)", "deployments",
        {200: obj({"regions": array(ref("Region")), "synced": BOOL})}),
    ("POST", f"{V1}/deployments"): op(
        "Request a deployment", "deployments", {201: ref("Deployment")},
        request=body({"name": STR, "region": STR, "tenant_id": nullable(INT),
                     "tenant": nullable(STR)}), errors=(404,)),
    ("GET", f"{V1}/deployments/<int:deployment_id>"): op(
        "One deployment", "deployments", {200: ref("Deployment")}, errors=(404,)),
    ("POST", f"{V1}/deployments/<int:deployment_id>/transition"): op(
        "Move a deployment to another state", "deployments", {200: ref("Deployment")},
        request=body({"to": STR}), errors=(404, 409)),
    ("POST", f"{V1}/deployments/<int:deployment_id>/subscribe"): op(
        "Subscribe a deployment to a plan", "deployments", {201: ref("Deployment")},
        request=body({"plan_code": STR, "addons": ADDON_CODES, "starts_on": DATE_IN}),
        errors=(404, 409)),
    ("POST", f"{V1}/deployments/<int:deployment_id>/subscription/change"): op(
        "Change the running subscription from a day", "deployments", {200: ref("Deployment")},
        request=body({"plan_code": STR, "addons": ADDON_CODES, "effective_on": DATE_IN}),
        errors=(404, 409)),
    ("POST", f"{V1}/deployments/<int:deployment_id>/subscription/end"): op(
        "End the running subscription on a day", "deployments", {200: ref("Deployment")},
        request=body({"ends_on": DATE_IN}), errors=(404, 409)),
    ("GET", f"{V1}/deployments/<int:deployment_id>/usage"): op(
        "A deployment's usage for a month, as the rollup sees it", "deployments",
        {200: ref("Usage")}, query=(MONTH,), errors=(404,)),
    ("POST", f"{V1}/usage"): op(
        "Ingest a batch of usage events (event_id is an idempotency key)", "usage",
        {200: ref("UsageResult")},
        request=body({"events": says(array(USAGE_EVENT), "must be a list of events")}),
        summarize=lambda index, first: f"event {index} is invalid ({first}); "
                                       "nothing in this batch was stored",
        conforms=_usage_batch_conforms),

    # provider
    ("GET", f"{V1}/inventory"): op(
        "The provider's resources", "provider",
        {200: listing("resources", ref("Resource"), provider=STR)}, query=PAGING),
    ("GET", f"{V1}/billing/balance"): op(
        "The provider account's latest balance", "provider", {200: ref("Balance")},
        errors=(404,)),
    ("GET", f"{V1}/billing/cost-lines"): op(
        "The provider's cost lines for a month", "provider",
        {200: listing("cost_lines", ref("CostLine"))}, query=(MONTH,)),
    ("GET", f"{V1}/drift"): op(
        "Differences between the provider and the records", "provider",
        {200: listing("drift", ref("Drift"))},
        query=(Param("status", {"enum": ["open", "accepted", "resolved"]}), *PAGING)),
    ("POST", f"{V1}/drift/<int:drift_id>/accept"): op(
        "Accept a drift (idempotent; empty body)", "provider", {200: ref("Drift")},
        errors=(404,)),

    # invoices
    ("GET", f"{V1}/invoices"): op(
        "Invoices the caller may see (tenants: never drafts)", "invoices",
        {200: listing("invoices", ref("Invoice"))},
        query=(Param("tenant", STR, "admins: a tenant's slug"), PERIOD,
               Param("status", STR), Param("overdue", {"enum": ["true", "false"]}),
               Param("sort", {"enum": ["-period", "period", "-total", "total"]},
                     "the order: by period (default -period, newest first) or total; "
                     "a leading - is descending"),
               Param("cursor", STR, "where the page starts: from a previous answer's next"),
               *PAGING)),
    ("GET", f"{V1}/invoices/<int:invoice_id>"): op(
        "One invoice with its lines", "invoices", {200: ref("Invoice")}, errors=(404,)),
    ("GET", f"{V1}/invoices/<int:invoice_id>/pdf"): op(
        "The invoice's PDF", "invoices", {200: None}, content_type="application/pdf",
        errors=(404,)),
    ("POST", f"{V1}/invoices/<int:invoice_id>/transition"): op(
        "Issue, mark paid or void an invoice", "invoices", {200: ref("Invoice")},
        request=body({"to": STR}), errors=(404, 409)),
    ("POST", f"{V1}/invoices/rollup"): op(
        "Run the month-end rollup for a period", "invoices",
        {200: ref("RollupResult"), 202: ref("JobRef")},
        request=body({"period": STR, "force": BOOL}),
        description="200 with the counts when jobs run inline; 202 with the job's id when a "
                    "worker runs it (poll GET /api/v1/jobs/{job_id})."),
    ("POST", f"{V1}/invoices/<int:invoice_id>/payments"): op(
        "Record a payment against an issued invoice", "invoices", {201: ref("Payment")},
        request=body({"amount_cents": INT, "paid_on": STR, "method": STR, "reference": STR}),
        errors=(404, 409)),
    ("GET", f"{V1}/invoices/<int:invoice_id>/payments"): op(
        "The payments of an invoice", "invoices", {200: listing("payments", ref("Payment"))},
        errors=(404,)),
    ("POST", f"{V1}/invoices/<int:invoice_id>/credit-notes"): op(
        "Issue an adjustment note against an issued or paid invoice", "credit notes",
        {201: ref("CreditNote")},
        request=body({"reason": STR, "refund": BOOL,
                      "lines": array(obj({"line_id": ANY, "amount_cents": ANY}))}),
        errors=(404, 409)),
    ("GET", f"{V1}/credit-notes"): op(
        "Credit notes the caller may see", "credit notes",
        {200: listing("credit_notes", ref("CreditNote"))},
        query=(Param("tenant", STR, "admins: a tenant's slug"),
               Param("invoice", STR, "an invoice's id"),
               Param("sort", {"enum": ["-number", "number", "-total", "total"]},
                     "the order: by number (default -number, newest first) or total; "
                     "a leading - is descending"),
               Param("cursor", STR, "where the page starts: from a previous answer's next"),
               *PAGING)),
    ("GET", f"{V1}/credit-notes/<int:credit_note_id>"): op(
        "One credit note", "credit notes", {200: ref("CreditNote")}, errors=(404,)),
    ("GET", f"{V1}/credit-notes/<int:credit_note_id>/pdf"): op(
        "The adjustment note's PDF", "credit notes", {200: None},
        content_type="application/pdf", errors=(404,)),
    ("POST", f"{V1}/credit-notes/<int:credit_note_id>/refund"): op(
        "Record the refund a credit note owes as paid out", "credit notes",
        {200: ref("CreditNote")}, request=body({"refunded_on": STR}), errors=(404, 409)),

    # tenants and users
    ("GET", f"{V1}/tenants"): op("Tenants (admins)", "accounts",
                                  {200: listing("tenants", ref("Tenant"))}, query=PAGING),
    ("POST", f"{V1}/tenants"): op(
        "Create a tenant", "accounts", {201: ref("Tenant")},
        # Types are the service's to check here: it names every bad field at once.
        request=body({"slug": ANY, "name": ANY, "billing_name": ANY, "billing_address": ANY,
                      "billing_email": ANY, "abn": ANY}), errors=(409,)),
    ("GET", f"{V1}/tenants/<int:tenant_id>"): op(
        "One tenant (a tenant admin: its own)", "accounts", {200: ref("Tenant")}, errors=(404,)),
    ("PATCH", f"{V1}/tenants/<int:tenant_id>"): op(
        "Change the fields sent of a tenant's profile", "accounts", {200: ref("Tenant")},
        request=body({"name": ANY, "billing_name": ANY, "billing_address": ANY,
                      "billing_email": ANY, "abn": ANY}), errors=(404,)),
    ("GET", f"{V1}/users"): op(
        "Users (admins: all; a tenant admin: its own tenant's)", "accounts",
        {200: listing("users", ref("User"))},
        query=(Param("tenant", STR, "admins: a tenant's slug"), *PAGING)),
    ("POST", f"{V1}/users"): op(
        "Invite a user (emails a link to set a password, valid 72 hours)", "accounts",
        {201: ref("User")}, request=body({"email": STR, "role": STR, "tenant": STR}),
        errors=(404, 409)),
    ("POST", f"{V1}/users/<int:user_id>/deactivate"): op(
        "Deactivate a user: its sessions and tokens end at once", "accounts",
        {200: ref("User")}, errors=(404, 409)),

    ("GET", f"{V1}/jobs/<job_id>"): op(
        "A job's status, progress and result", "jobs", {200: ref("Job")}, errors=(404,)),

    # tokens
    ("GET", f"{V1}/tokens"): op("The caller's API tokens (never their secrets)", "tokens",
                                 {200: listing("tokens", ref("Token"))}, query=PAGING),
    ("POST", f"{V1}/tokens"): op(
        "Create a token for the caller; its secret is in this answer only", "tokens",
        {201: ref("NewToken")}, request=body({"name": STR, "expires_in_days": nullable(INT)})),
    ("DELETE", f"{V1}/tokens/<int:token_id>"): op(
        "Revoke one of the caller's tokens", "tokens", {200: ref("Token")}, errors=(404,)),

    # audit
    ("GET", f"{V1}/audit"): op(
        "The audit log, newest first", "audit", {200: listing("audit", ref("AuditEntry"))},
        query=(Param("actor", STR), Param("object_type", STR), Param("object_id", STR),
               Param("since", STR, "a date or timestamp"), Param("before", STR),
               Param("per_page", {"type": "integer", "minimum": 1, "maximum": 500}))),

    # webhooks
    ("GET", f"{V1}/webhooks"): op("The webhooks", "webhooks",
                                   {200: listing("webhooks", ref("Webhook"))}),
    ("POST", f"{V1}/webhooks"): op(
        "Create a webhook; its secret is in this answer only", "webhooks",
        {201: ref("Webhook")}, request=body({"url": STR, "events": array(STR)})),
    ("DELETE", f"{V1}/webhooks/<int:webhook_id>"): op(
        "Delete a webhook", "webhooks", {204: None}, errors=(404,)),
    ("GET", f"{V1}/webhooks/<int:webhook_id>/deliveries"): op(
        "A webhook's deliveries, newest event first", "webhooks",
        {200: listing("deliveries", ref("WebhookDelivery"))},
        query=(Param("status", {"enum": ["pending", "succeeded", "failed"]}),
               Param("sort", {"enum": ["-event", "event"]},
                     "the order: by event, newest first (default -event) or oldest first"),
               Param("cursor", STR, "where the page starts: from a previous answer's next"),
               *PAGING),
        errors=(404,)),
    ("POST", f"{V1}/webhooks/<int:webhook_id>/deliveries/redeliver-failed"): op(
        "Deliver every failed delivery of a webhook again, in event order", "webhooks",
        {200: ref("Redelivered")}, errors=(404,),
        description="Each failed delivery becomes pending with no attempts, due now; the "
                    "worker sends them in order of occurrence. `redelivered` counts them: "
                    "0 when none had failed (a second call right after)."),
    ("POST", f"{V1}/webhooks/<int:webhook_id>/deliveries/<int:delivery_id>/redeliver"): op(
        "Deliver an event again", "webhooks", {200: ref("WebhookDelivery")}, errors=(404,)),
}


# -- validation ------------------------------------------------------------------------------

@cache
def _registry() -> Registry:
    """``#/components/schemas/X`` resolves inside the request and response schemas."""
    root = {"components": {"schemas": COMPONENTS}}
    return Registry().with_resource("urn:arcadia-api", Resource.from_contents(
        {"$schema": "https://json-schema.org/draft/2020-12/schema", **root}))


def _rooted(schema: dict) -> dict:
    """``schema`` with its ``#/components/...`` refs pointing into the registry's document."""
    if isinstance(schema, dict):
        return {k: (v.replace("#/", "urn:arcadia-api#/", 1) if k == "$ref" else _rooted(v))
                for k, v in schema.items()}
    if isinstance(schema, list):
        return [_rooted(v) for v in schema]
    return schema


@cache
def validator(method: str, rule: str, status: int | None = None) -> Draft202012Validator | None:
    """The validator of an operation's request body (``status`` None) or of one answer."""
    operation = OPERATIONS.get((method, rule))
    if operation is None:
        return None
    schema = operation.request if status is None else operation.responses.get(status)
    if schema is None:
        return None
    return Draft202012Validator(_rooted(schema), registry=_registry(),
                                format_checker=Draft202012Validator.FORMAT_CHECKER)


# The services' own words for a value of the wrong type, so a field reads the same either way.
TYPE_MESSAGES = {
    "string": "must be a string", "integer": "must be an integer", "number": "must be a number",
    "boolean": "must be true or false", "array": "must be a list", "object": "must be an object",
}


@cache
def error_validator() -> Draft202012Validator:
    """The contract's error shape, which every 4xx answers with."""
    return Draft202012Validator(_rooted(ref("Error")), registry=_registry())


def field_name(path) -> str:
    """``["events", 3, "quantity"]`` → ``events[3].quantity``, as the services name fields."""
    name = ""
    for part in path:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name


def message(method: str, rule: str, fields: dict[str, str]) -> str | None:
    """The 422's message where the operation words it its own way (else None: the default)."""
    operation = OPERATIONS[(method, rule)]
    if operation.summarize is None or not fields:
        return None
    name, problem = next(iter(fields.items()))
    index = re.search(r"\[(\d+)\]", name)
    return operation.summarize(int(index.group(1)) if index else None, f"{name}: {problem}")


def conforms(method: str, rule: str, instance: dict) -> bool:
    """The operation's cheap proof that ``instance`` matches its request schema and holds
    nothing the edge check refuses, where it has one (``Operation.conforms``); False means
    "run the edge check and the validator"."""
    operation = OPERATIONS.get((method, rule))
    check = operation.conforms if operation is not None else None
    return check is not None and check(instance)


def _leaves(error):
    """A failed ``anyOf`` (a nullable field) → the errors of its non-null branches."""
    if error.validator == "anyOf" and error.context:
        branches = [e for e in error.context
                    if not (e.validator == "type" and e.validator_value == "null")]
        if branches:
            for branch in branches:
                yield from _leaves(branch)
            return
    yield error


def problems(validator_: Draft202012Validator, instance) -> dict[str, str]:
    """Each bad field → one message, the deepest (most specific) error first."""
    found: dict[str, str] = {}
    errors = [leaf for e in validator_.iter_errors(instance) for leaf in _leaves(e)]
    for error in sorted(errors, key=lambda e: -len(e.absolute_path)):
        path = list(error.absolute_path)
        if error.validator == "required":
            missing = error.message.split("'")[1] if "'" in error.message else ""
            path.append(missing)
            message = "is required"
        elif error.validator == "type":
            expected = error.validator_value
            message = error.schema.get("x-message") or \
                TYPE_MESSAGES.get(expected, f"must be of type {expected}")
        else:
            message = error.message
        found.setdefault(field_name(path) or "body", message)
    return found
