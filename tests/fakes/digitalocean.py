"""A fake DigitalOcean API v2 on 127.0.0.1, for tests that must never touch the network.

    with FakeDigitalOcean(token="test-token") as fake:
        fake.droplets = [droplet_json(1, "web-1"), droplet_json(2, "web-2")]
        fake.per_page_max = 1                      # force pagination
        fake.fail_next("/v2/droplets", status=429, headers={"Retry-After": "0"})
        client = DigitalOceanClient("test-token", base_url=fake.url)

It is a real HTTP server (werkzeug, threaded) in a background thread. It serves the seven
read-only endpoints the portal uses, in DigitalOcean's documented JSON shapes, paginates
like DigitalOcean (``page``/``per_page``, absolute ``links.pages.next``, ``meta.total``),
answers 401 to a wrong bearer token and 404 to unknown paths, and can inject one-shot
faults per path (a status, a raw body, headers, a delay before answering).
"""
from __future__ import annotations

import json
import re
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

DEFAULT_PER_PAGE = 20  # DigitalOcean's default page size
MAX_PER_PAGE = 200  # and its maximum

_ERROR_IDS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    422: "unprocessable_entity",
    429: "too_many_requests",
    500: "server_error",
    502: "bad_gateway",
    503: "service_unavailable",
    504: "gateway_timeout",
}


# --------------------------------------------------------------------------- JSON builders


def region_json(
    slug: str,
    name: str,
    available: bool = True,
    sizes: tuple[str, ...] | list[str] = ("s-1vcpu-1gb", "s-2vcpu-4gb"),
    features: tuple[str, ...] | list[str] = ("backups", "ipv6", "metadata", "storage"),
) -> dict:
    """A region as GET /v2/regions lists it."""
    return {"slug": slug, "name": name, "available": available, "sizes": list(sizes),
            "features": list(features)}


def published_regions_json() -> list[dict]:
    """DigitalOcean's public regions, as the fake answers unless a test sets its own."""
    from portal.provider.regions import PUBLISHED_REGIONS

    return [region_json(r.slug, r.name, r.available, r.sizes, r.features) for r in PUBLISHED_REGIONS]


def _size_parts(size: str) -> tuple[int, int]:
    """(vcpus, memory MiB) guessed from a slug such as "s-2vcpu-4gb"; defaults otherwise."""
    vcpus = re.search(r"(\d+)vcpu", size)
    memory = re.search(r"-(\d+)gb", size)
    return (int(vcpus.group(1)) if vcpus else 1, int(memory.group(1)) * 1024 if memory else 1024)


def droplet_json(
    id: int,
    name: str,
    region: str = "syd1",
    size: str = "s-2vcpu-4gb",
    status: str = "active",
    tags: tuple[str, ...] | list[str] = (),
    created_at: str | None = "2026-03-01T00:00:00Z",
) -> dict:
    """A droplet as GET /v2/droplets lists it (the fields the docs show, trimmed)."""
    vcpus, memory = _size_parts(size)
    return {
        "id": id,
        "name": name,
        "memory": memory,
        "vcpus": vcpus,
        "disk": 80,
        "locked": False,
        "status": status,
        "kernel": None,
        "created_at": created_at,
        "features": ["monitoring"],
        "backup_ids": [],
        "next_backup_window": None,
        "snapshot_ids": [],
        "image": {
            "id": 106569146,
            "name": "22.04 (LTS) x64",
            "distribution": "Ubuntu",
            "slug": "ubuntu-22-04-x64",
        },
        "volume_ids": [],
        "size": {
            "slug": size,
            "memory": memory,
            "vcpus": vcpus,
            "disk": 80,
            "transfer": 4.0,
            "price_monthly": 24.0,
            "price_hourly": 0.03571,
            "regions": [region],
            "available": True,
            "description": "Basic",
        },
        "size_slug": size,
        "networks": {"v4": [], "v6": []},
        "region": {
            "name": region,
            "slug": region,
            "features": ["backups", "ipv6", "metadata"],
            "available": True,
            "sizes": [size],
        },
        "tags": list(tags),
        "vpc_uuid": "760e09ef-dc84-11e8-981e-3cfdfeaae000",
    }


def volume_json(
    id: str,
    name: str,
    region: str = "syd1",
    size_gb: int = 100,
    droplet_ids: tuple[int, ...] | list[int] = (),
    tags: tuple[str, ...] | list[str] = (),
    created_at: str | None = "2026-03-01T00:00:00Z",
) -> dict:
    """A block storage volume as GET /v2/volumes lists it."""
    return {
        "id": id,
        "region": {"name": region, "slug": region, "features": ["storage"], "available": True, "sizes": []},
        "droplet_ids": list(droplet_ids),
        "name": name,
        "description": "",
        "size_gigabytes": size_gb,
        "created_at": created_at,
        "filesystem_type": "ext4",
        "filesystem_label": "",
        "tags": list(tags),
    }


def balance_json(
    month_to_date_balance: str | None = "23.44",
    account_balance: str | None = "12.23",
    month_to_date_usage: str | None = "11.21",
    generated_at: str | None = "2019-07-09T15:01:12Z",
) -> dict:
    """GET /v2/customers/my/balance; pass None to leave a field out."""
    body = {
        "month_to_date_balance": month_to_date_balance,
        "account_balance": account_balance,
        "month_to_date_usage": month_to_date_usage,
        "generated_at": generated_at,
    }
    return {k: v for k, v in body.items() if v is not None}


def billing_entry_json(
    description: str,
    amount: str,
    invoice_id: str | None = None,
    invoice_uuid: str | None = None,
    date: str | None = "2026-03-01T08:44:38Z",
    type: str = "Invoice",
) -> dict:
    """An entry of GET /v2/customers/my/billing_history (payments carry no invoice ids)."""
    entry: dict[str, Any] = {"description": description, "amount": amount, "date": date, "type": type}
    if invoice_id is not None:
        entry["invoice_id"] = invoice_id
    if invoice_uuid is not None:
        entry["invoice_uuid"] = invoice_uuid
    return entry


def invoice_json(uuid: str, period: str, amount: str) -> dict:
    """An entry of GET /v2/customers/my/invoices."""
    return {"invoice_uuid": uuid, "amount": amount, "invoice_period": period}


def invoice_item_json(
    product: str,
    resource_id: str,
    description: str,
    amount: str,
    *,
    resource_uuid: str = "",
    group_description: str = "",
    duration: str = "744",
    duration_unit: str = "Hours",
    start_time: str = "2026-03-01T00:00:00Z",
    end_time: str = "2026-04-01T00:00:00Z",
    project_name: str = "",
    category: str = "iaas",
) -> dict:
    """An entry of GET /v2/customers/my/invoices/{uuid}."""
    return {
        "product": product,
        "resource_id": resource_id,
        "resource_uuid": resource_uuid,
        "group_description": group_description,
        "description": description,
        "amount": amount,
        "duration": duration,
        "duration_unit": duration_unit,
        "start_time": start_time,
        "end_time": end_time,
        "project_name": project_name,
        "category": category,
    }


# --------------------------------------------------------------------------- the server


class _QuietHandler(WSGIRequestHandler):
    """No access log line per request (tests make hundreds); errors are still logged.

    Idle keep-alive connections are dropped after ``timeout`` seconds, so a client that a
    test forgot to close cannot keep a handler thread alive for long.
    """

    timeout = 10

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


@dataclass
class _Fault:
    status: int | None = None
    body: str | bytes | None = None
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class FakeDigitalOcean:
    """See the module docstring. Attributes are plain data; set them between requests."""

    def __init__(self, token: str = "test-token"):
        self.token = token
        self.regions: list[dict] = published_regions_json()
        self.droplets: list[dict] = []
        self.volumes: list[dict] = []
        self.balance: dict = balance_json()
        self.billing_history: list[dict] = []
        self.invoices: list[dict] = []
        self.invoice_preview: dict = {
            "invoice_uuid": "fe7ce9c4-b9a2-4ba6-a1c2-08dd0c63d5f7",
            "amount": "0.00",
            "invoice_period": "2026-04",
            "updated_at": "2026-04-01T00:00:00Z",
        }
        self.invoice_items: dict[str, list[dict]] = {}
        self.per_page_max: int = MAX_PER_PAGE
        # Where pagination links point; None -> this server. DigitalOcean's own links say
        # "https://api.digitalocean.com/..." whichever host answered.
        self.link_host: str | None = None
        self.requests: list[tuple[str, str, dict[str, str], str | None]] = []
        self._faults: dict[str, deque[_Fault]] = {}
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._server = None
        self._thread: threading.Thread | None = None
        self.url = ""

    # -- lifecycle

    def start(self) -> FakeDigitalOcean:
        self._server = make_server(
            "127.0.0.1", 0, self._wsgi, threaded=True, request_handler=_QuietHandler
        )
        # server_close() must not wait for handler threads: one serving a keep-alive connection
        # of a client that is still open would block it. They are daemons and end on their own.
        self._server.block_on_close = False
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-digitalocean",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._closing.set()  # wakes any request sleeping in an injected delay
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> FakeDigitalOcean:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- test controls

    def fail_next(
        self,
        path: str,
        status: int | None = None,
        *,
        body: str | bytes | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
    ) -> None:
        """The next request to ``path`` (exact, no query) gets this instead of the normal answer.

        status alone -> a DigitalOcean-style JSON error; body/json -> that body (status 200 unless
        given); delay alone -> sleep, then answer normally. Calls queue up, one per request.
        """
        fault = _Fault(status=status, body=body, json=json, headers=dict(headers or {}), delay=delay)
        with self._lock:
            self._faults.setdefault(path, deque()).append(fault)

    def requests_to(self, path: str) -> list[tuple[str, str, dict[str, str], str | None]]:
        with self._lock:
            return [r for r in self.requests if r[1] == path]

    # -- WSGI

    def _wsgi(self, environ, start_response):
        request = Request(environ)
        return self._respond(request)(environ, start_response)

    def _respond(self, request: Request) -> Response:
        path = request.path
        with self._lock:
            self.requests.append(
                (request.method, path, request.args.to_dict(), request.headers.get("Authorization"))
            )
            queue = self._faults.get(path)
            fault = queue.popleft() if queue else None

        if fault is not None:
            if fault.delay:
                self._closing.wait(fault.delay)
            if fault.status is not None or fault.body is not None or fault.json is not None:
                return self._fault_response(fault)

        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return _error(401, "Unable to authenticate you.")
        if request.method != "GET":
            return _error(405, "This fake only serves GET requests.")
        return self._route(request)

    def _fault_response(self, fault: _Fault) -> Response:
        status = fault.status or 200
        if fault.json is not None:
            response = _json(fault.json, status)
        elif fault.body is not None:
            response = Response(fault.body, status=status, content_type="text/html; charset=utf-8")
        else:
            response = _error(status, f"Injected fault: HTTP {status}.")
        for name, value in fault.headers.items():
            response.headers[name] = value
        return response

    def _route(self, request: Request) -> Response:
        path = request.path.rstrip("/") or "/"
        if path == "/v2/regions":
            return self._page(request, "regions", self.regions)
        if path == "/v2/droplets":
            return self._page(request, "droplets", self.droplets)
        if path == "/v2/volumes":
            return self._page(request, "volumes", self.volumes)
        if path == "/v2/customers/my/balance":
            return _json(self.balance)
        if path == "/v2/customers/my/billing_history":
            return self._page(request, "billing_history", self.billing_history)
        if path == "/v2/customers/my/invoices":
            return self._page(
                request, "invoices", self.invoices, extra={"invoice_preview": self.invoice_preview}
            )
        match = re.fullmatch(r"/v2/customers/my/invoices/([^/]+)", path)
        if match and match.group(1) in self.invoice_items:
            return self._page(request, "invoice_items", self.invoice_items[match.group(1)])
        return _error(404, "The resource you were accessing could not be found.")

    def _page(self, request: Request, key: str, items: list[dict], extra: dict | None = None) -> Response:
        try:
            page = int(request.args.get("page", 1))
            per_page = int(request.args.get("per_page", DEFAULT_PER_PAGE))
        except ValueError:
            return _error(400, "page and per_page must be integers.")
        if page < 1 or per_page < 1:
            return _error(400, "page and per_page must be positive.")
        per_page = min(per_page, self.per_page_max, MAX_PER_PAGE)
        items = list(items)
        last = max(1, -(-len(items) // per_page))
        start = (page - 1) * per_page
        base = (self.link_host or self.url).rstrip("/") + request.path

        def link(n: int) -> str:
            return f"{base}?{urlencode({'page': n, 'per_page': per_page})}"

        pages: dict[str, str] = {}
        if page > 1:
            pages["first"] = link(1)
            pages["prev"] = link(min(page - 1, last))
        if page < last:
            pages["last"] = link(last)
            pages["next"] = link(page + 1)
        body = {key: items[start : start + per_page], **(extra or {})}
        body["links"] = {"pages": pages}
        body["meta"] = {"total": len(items)}
        return _json(body)


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json; charset=utf-8")


def _error(status: int, message: str) -> Response:
    return _json({"id": _ERROR_IDS.get(status, "error"), "message": message}, status)
