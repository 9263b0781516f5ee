"""A small, typed, read-only client for DigitalOcean's public API v2.

It covers the seven GET endpoints the portal needs (regions, droplets, volumes, balance,
billing history, invoices, invoice items), on httpx, with pagination, 429 and 5xx retries and
timeouts under our control. Every failure surfaces as ``ProviderError`` whose ``message``
is a sentence an admin can act on. Money is converted from DigitalOcean's decimal strings
to integer cents with ``Decimal`` and ROUND_HALF_UP, never through float.

This module must stay free of Flask and SQLAlchemy: it is used by jobs and by tests alone.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import httpx

from ..billing.money import cents_from_units

__all__ = [
    "Balance",
    "BillingEntry",
    "DigitalOceanClient",
    "Droplet",
    "InvoiceItem",
    "InvoiceSummary",
    "ProviderError",
    "Region",
    "Volume",
]

USER_AGENT = "arcadia-portal (DigitalOcean client)"
MAX_PAGES = 1000
RETRYABLE_SERVER_STATUSES = frozenset({500, 502, 503, 504})
MAX_REGION_SLUG, MAX_REGION_NAME = 32, 100  # what a deployment's region column holds


class ProviderError(Exception):
    """Anything that went wrong talking to the provider; .message is a clear sentence for admins."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.message = message
        self.status = status

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class Region:
    """A datacenter region as GET /v2/regions lists it: "syd1", "Sydney 1"."""
    slug: str
    name: str
    available: bool
    sizes: tuple[str, ...] = ()
    features: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return f"{self.name} ({self.slug})"


@dataclass(frozen=True)
class Droplet:
    provider_id: str
    name: str
    region: str
    size: str
    status: str
    tags: tuple[str, ...]
    created_at: datetime | None


@dataclass(frozen=True)
class Volume:
    provider_id: str
    name: str
    region: str
    size: str
    status: str
    tags: tuple[str, ...]
    droplet_ids: tuple[str, ...]
    created_at: datetime | None


@dataclass(frozen=True)
class Balance:
    month_to_date_usage_cents: int
    month_to_date_balance_cents: int
    account_balance_cents: int
    generated_at: datetime | None


@dataclass(frozen=True)
class BillingEntry:
    description: str
    amount_cents: int
    invoice_id: str | None
    invoice_uuid: str | None
    date: datetime | None
    type: str


@dataclass(frozen=True)
class InvoiceSummary:
    invoice_uuid: str
    period: str
    amount_cents: int


@dataclass(frozen=True)
class InvoiceItem:
    product: str
    resource_id: str | None
    resource_uuid: str | None
    description: str
    amount_cents: int
    duration: str | None
    duration_unit: str | None
    start_time: datetime | None
    end_time: datetime | None
    project_name: str | None
    category: str | None


# --------------------------------------------------------------------------- parsing helpers


def _unexpected(what: str, detail: str) -> ProviderError:
    return ProviderError(f"DigitalOcean sent an unexpected response for {what}: {detail}.")


def to_cents(value: Any, what: str = "an amount") -> int:
    """A decimal string such as "12.34" or "-5.00" as integer cents, rounded half-up.

    Missing, empty or malformed amounts raise ProviderError: nothing is assumed to be zero.
    """
    if isinstance(value, bool) or value is None:
        raise _unexpected(what, f"the amount is missing ({value!r})")
    if isinstance(value, float):
        raise _unexpected(what, f"the amount {value!r} is a float, not a decimal string")
    if isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            raise _unexpected(what, "the amount is empty")
        try:
            amount = Decimal(text)
        except InvalidOperation:
            raise _unexpected(what, f"the amount {value!r} is not a decimal number") from None
    else:
        raise _unexpected(what, f"the amount {value!r} is not a decimal string")
    if not amount.is_finite():
        raise _unexpected(what, f"the amount {value!r} is not a finite number")
    try:
        return cents_from_units(amount)
    except InvalidOperation:  # more digits than the decimal context holds
        raise _unexpected(what, f"the amount {value!r} is out of range") from None


def parse_timestamp(value: Any, what: str = "a timestamp") -> datetime | None:
    """ISO 8601 ("2020-07-21T18:37:44Z") as a tz-aware UTC datetime; missing or empty -> None."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise _unexpected(what, f"the timestamp {value!r} is not a string")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise _unexpected(what, f"the timestamp {value!r} is not ISO 8601") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def _field(obj: dict, key: str, what: str) -> Any:
    if key not in obj or obj[key] is None:
        raise _unexpected(what, f'the field "{key}" is missing')
    return obj[key]


def _str(obj: dict, key: str, what: str) -> str:
    value = _field(obj, key, what)
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise _unexpected(what, f'the field "{key}" is not a string ({value!r})')
    return str(value)


def _id(obj: dict, key: str, what: str) -> str:
    value = _str(obj, key, what)
    if not value:
        raise _unexpected(what, f'the field "{key}" is empty')
    return value


def _opt_str(obj: dict, key: str, what: str) -> str | None:
    """A string field that may be missing, null or empty (all -> None); numbers become strings."""
    value = obj.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise _unexpected(what, f'the field "{key}" is not a string ({value!r})')
    return str(value)


def _text(obj: dict, key: str, what: str) -> str:
    """A descriptive string field; missing or null -> ""."""
    return _opt_str(obj, key, what) or ""


def _str_tuple(obj: dict, key: str, what: str) -> tuple[str, ...]:
    value = obj.get(key)
    if value is None:
        return ()
    if not isinstance(value, list) or any(
        isinstance(v, bool) or not isinstance(v, (str, int)) for v in value
    ):
        raise _unexpected(what, f'the field "{key}" is not a list of strings')
    return tuple(str(v) for v in value)


def _region_slug(obj: dict, what: str) -> str:
    region = _field(obj, "region", what)
    if isinstance(region, dict):
        return _id(region, "slug", what + " region")
    if isinstance(region, str) and region:
        return region
    raise _unexpected(what, f"the region {region!r} has no slug")


def _parse_region(obj: Any) -> Region:
    if not isinstance(obj, dict):
        raise _unexpected("regions", "an entry is not an object")
    what = f"region {obj.get('slug')!r}"
    available = obj.get("available")
    if not isinstance(available, bool):
        raise _unexpected(what, f'the field "available" is not true or false ({available!r})')
    slug, name = _id(obj, "slug", what), _str(obj, "name", what)
    if len(slug) > MAX_REGION_SLUG or len(name) > MAX_REGION_NAME:
        raise _unexpected(what, f"the slug or name is longer than {MAX_REGION_SLUG} or "
                                f"{MAX_REGION_NAME} characters")
    return Region(
        slug=slug,
        name=name,
        available=available,
        sizes=_str_tuple(obj, "sizes", what),
        features=_str_tuple(obj, "features", what),
    )


def _parse_droplet(obj: Any) -> Droplet:
    if not isinstance(obj, dict):
        raise _unexpected("droplets", "an entry is not an object")
    what = f"droplet {obj.get('id')!r}"
    size = obj.get("size_slug")
    if not size and isinstance(obj.get("size"), dict):
        size = obj["size"].get("slug")
    if not isinstance(size, str) or not size:
        raise _unexpected(what, 'the field "size_slug" is missing')
    return Droplet(
        provider_id=_id(obj, "id", what),
        name=_str(obj, "name", what),
        region=_region_slug(obj, what),
        size=size,
        status=_id(obj, "status", what),
        tags=_str_tuple(obj, "tags", what),
        created_at=parse_timestamp(obj.get("created_at"), what),
    )


def _parse_volume(obj: Any) -> Volume:
    if not isinstance(obj, dict):
        raise _unexpected("volumes", "an entry is not an object")
    what = f"volume {obj.get('id')!r}"
    gigabytes = _field(obj, "size_gigabytes", what)
    if isinstance(gigabytes, bool) or not isinstance(gigabytes, int):
        raise _unexpected(what, f'the field "size_gigabytes" is not an integer ({gigabytes!r})')
    droplet_ids = _str_tuple(obj, "droplet_ids", what)
    return Volume(
        provider_id=_id(obj, "id", what),
        name=_str(obj, "name", what),
        region=_region_slug(obj, what),
        size=f"{gigabytes}gb",
        status="attached" if droplet_ids else "available",
        tags=_str_tuple(obj, "tags", what),
        droplet_ids=droplet_ids,
        created_at=parse_timestamp(obj.get("created_at"), what),
    )


def _parse_balance(obj: dict) -> Balance:
    what = "the account balance"
    return Balance(
        month_to_date_usage_cents=to_cents(obj.get("month_to_date_usage"), what + " (month_to_date_usage)"),
        month_to_date_balance_cents=to_cents(
            obj.get("month_to_date_balance"), what + " (month_to_date_balance)"
        ),
        account_balance_cents=to_cents(obj.get("account_balance"), what + " (account_balance)"),
        generated_at=parse_timestamp(obj.get("generated_at"), what),
    )


def _parse_billing_entry(obj: Any) -> BillingEntry:
    if not isinstance(obj, dict):
        raise _unexpected("billing history", "an entry is not an object")
    what = f"billing history entry {obj.get('description')!r}"
    return BillingEntry(
        description=_text(obj, "description", what),
        amount_cents=to_cents(obj.get("amount"), what),
        invoice_id=_opt_str(obj, "invoice_id", what),
        invoice_uuid=_opt_str(obj, "invoice_uuid", what),
        date=parse_timestamp(obj.get("date"), what),
        type=_text(obj, "type", what),
    )


def _parse_invoice(obj: Any) -> InvoiceSummary:
    if not isinstance(obj, dict):
        raise _unexpected("invoices", "an entry is not an object")
    what = f"invoice {obj.get('invoice_uuid')!r}"
    return InvoiceSummary(
        invoice_uuid=_id(obj, "invoice_uuid", what),
        period=_id(obj, "invoice_period", what),
        amount_cents=to_cents(obj.get("amount"), what),
    )


def _parse_invoice_item(obj: Any, invoice_uuid: str) -> InvoiceItem:
    if not isinstance(obj, dict):
        raise _unexpected(f"invoice {invoice_uuid}", "an item is not an object")
    what = f"an item of invoice {invoice_uuid}"
    return InvoiceItem(
        product=_text(obj, "product", what),
        resource_id=_opt_str(obj, "resource_id", what),
        resource_uuid=_opt_str(obj, "resource_uuid", what),
        description=_text(obj, "description", what),
        amount_cents=to_cents(obj.get("amount"), what),
        duration=_opt_str(obj, "duration", what),
        duration_unit=_opt_str(obj, "duration_unit", what),
        start_time=parse_timestamp(obj.get("start_time"), what),
        end_time=parse_timestamp(obj.get("end_time"), what),
        project_name=_opt_str(obj, "project_name", what),
        category=_opt_str(obj, "category", what),
    )


def _parse_retry_after(value: str | None, cap: float) -> float:
    """Seconds to wait for a 429: Retry-After as int or float; 1 if missing or unparseable."""
    try:
        seconds = float(value) if value is not None else 1.0
    except ValueError:
        seconds = 1.0
    if math.isnan(seconds) or seconds < 0:
        seconds = 1.0
    return min(seconds, cap)


def _error_message(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    if isinstance(body, dict) and isinstance(body.get("message"), str) and body["message"].strip():
        return body["message"].strip()
    return None


# --------------------------------------------------------------------------- the client


class DigitalOceanClient:
    """Read-only access to DigitalOcean's API v2 with one token (a personal access token)."""

    def __init__(
        self,
        token: str,
        base_url: str = "https://api.digitalocean.com",
        *,
        timeout: float = 10.0,
        max_retries: int = 3,
        per_page: int = 200,
        sleep: Callable[[float], Any] = time.sleep,
        max_retry_after: float = 60.0,
    ):
        if not token or not token.strip():
            raise ProviderError("No DigitalOcean API token is configured.")
        if not 1 <= per_page <= 200:
            raise ValueError("per_page must be between 1 and 200 (DigitalOcean's maximum)")
        if max_retries < 0:
            raise ValueError("max_retries must not be negative")
        self.timeout = timeout
        self.max_retries = max_retries
        self.per_page = per_page
        self.max_retry_after = max_retry_after
        self._sleep = sleep
        self._http = httpx.Client(
            base_url=base_url,
            timeout=httpx.Timeout(timeout),
            follow_redirects=False,
            headers={
                "Authorization": f"Bearer {token.strip()}",
                "Accept": "application/json",
                "User-Agent": USER_AGENT,
            },
        )

    # -- lifecycle

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> DigitalOceanClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- endpoints

    def regions(self) -> list[Region]:
        return [_parse_region(r) for r in self._paginate("/v2/regions", "regions")]

    def droplets(self) -> list[Droplet]:
        return [_parse_droplet(d) for d in self._paginate("/v2/droplets", "droplets")]

    def volumes(self) -> list[Volume]:
        return [_parse_volume(v) for v in self._paginate("/v2/volumes", "volumes")]

    def balance(self) -> Balance:
        return _parse_balance(self._get_json("/v2/customers/my/balance"))

    def billing_history(self) -> list[BillingEntry]:
        entries = self._paginate("/v2/customers/my/billing_history", "billing_history")
        return [_parse_billing_entry(e) for e in entries]

    def invoices(self) -> list[InvoiceSummary]:
        return [_parse_invoice(i) for i in self._paginate("/v2/customers/my/invoices", "invoices")]

    def invoice_items(self, invoice_uuid: str) -> list[InvoiceItem]:
        if not invoice_uuid or not invoice_uuid.strip():
            raise ProviderError("An invoice UUID is required to fetch its items from DigitalOcean.")
        path = f"/v2/customers/my/invoices/{quote(invoice_uuid.strip(), safe='')}"
        return [_parse_invoice_item(i, invoice_uuid) for i in self._paginate(path, "invoice_items")]

    # -- transport

    def _paginate(self, path: str, key: str) -> list[Any]:
        """Every item under ``key`` across pages, following links.pages.next on our base URL."""
        items: list[Any] = []
        target = f"{path}?per_page={self.per_page}&page=1"
        seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
        for _ in range(MAX_PAGES):
            seen.add(_target_key(target))
            body = self._get_json(target)
            page = body.get(key)
            if not isinstance(page, list):
                raise _unexpected(f"GET {path}", f'there is no "{key}" list')
            items.extend(page)
            next_link = _next_link(body)
            if next_link is None:
                return items
            target = _same_host_target(next_link, path)
            if _target_key(target) in seen:
                raise ProviderError(
                    f"DigitalOcean's pagination for GET {path} loops (the next page {target} "
                    "was already fetched); the listing was abandoned rather than returned incomplete."
                )
        raise ProviderError(
            f"DigitalOcean's pagination for GET {path} did not end after {MAX_PAGES} pages; "
            "the listing was abandoned rather than returned incomplete."
        )

    def _get_json(self, target: str) -> dict:
        """GET ``target`` (a path with an optional query) and return its JSON object."""
        path = target.split("?", 1)[0]
        retries = 0
        while True:
            try:
                response = self._http.get(target)
            except httpx.TimeoutException as exc:
                raise ProviderError(
                    f"DigitalOcean did not answer GET {path} in time "
                    f"(timeout of {self.timeout:g}s; {type(exc).__name__})."
                ) from exc
            except httpx.HTTPError as exc:
                raise ProviderError(
                    f"Could not connect to DigitalOcean for GET {path}: {exc or type(exc).__name__}."
                ) from exc

            status = response.status_code
            if status == 429 or status in RETRYABLE_SERVER_STATUSES:
                if retries >= self.max_retries:
                    raise self._retries_exhausted(response, path, retries)
                if status == 429:
                    delay = _parse_retry_after(response.headers.get("Retry-After"), self.max_retry_after)
                else:
                    delay = min(0.5 * (2**retries), self.max_retry_after)
                response.close()
                retries += 1
                self._sleep(delay)
                continue

            if status in (401, 403):
                detail = _error_message(response)
                raise ProviderError(
                    f"DigitalOcean rejected the API token (HTTP {status})"
                    + (f": {detail}" if detail else "")
                    + ". Check that the token is valid and has read access.",
                    status=status,
                )
            if status >= 400:
                detail = _error_message(response)
                raise ProviderError(
                    f"DigitalOcean returned HTTP {status} for GET {path}"
                    + (f": {detail}" if detail else "")
                    + ".",
                    status=status,
                )
            if status != 200:
                raise ProviderError(
                    f"DigitalOcean sent an unexpected response for GET {path}: HTTP {status}.",
                    status=status,
                )
            try:
                body = response.json()
            except ValueError:
                raise _unexpected(f"GET {path}", "the body is not JSON") from None
            if not isinstance(body, dict):
                raise _unexpected(f"GET {path}", "the body is not a JSON object")
            return body

    def _retries_exhausted(self, response: httpx.Response, path: str, retries: int) -> ProviderError:
        status = response.status_code
        attempts = retries + 1
        if status == 429:
            return ProviderError(
                f"DigitalOcean rate limit reached for GET {path}: still HTTP 429 after "
                f"{attempts} attempts; try again later.",
                status=429,
            )
        detail = _error_message(response)
        return ProviderError(
            f"DigitalOcean returned HTTP {status} for GET {path} after {attempts} attempts"
            + (f": {detail}" if detail else "")
            + ".",
            status=status,
        )


def _next_link(body: dict) -> str | None:
    links = body.get("links")
    pages = links.get("pages") if isinstance(links, dict) else None
    next_link = pages.get("next") if isinstance(pages, dict) else None
    if next_link is None or next_link == "":
        return None
    if not isinstance(next_link, str):
        raise _unexpected("pagination", f"links.pages.next is not a URL ({next_link!r})")
    return next_link


def _same_host_target(next_link: str, path: str) -> str:
    """The path and query of a next link, to be requested on our base URL, never its host."""
    parts = urlsplit(next_link)
    if not parts.path.startswith("/"):
        raise _unexpected(f"GET {path}", f"the next page link {next_link!r} has no path")
    # "//other-host/..." would be read as a host by a URL parser: keep one leading slash.
    return "/" + parts.path.lstrip("/") + (f"?{parts.query}" if parts.query else "")


def _target_key(target: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    parts = urlsplit(target)
    return parts.path, tuple(sorted(parse_qsl(parts.query, keep_blank_values=True)))
