"""The demo provider: what ``provider sync`` talks to when no DigitalOcean token is set.

Deterministic and offline: DigitalOcean's published regions, droplets for the portal's deployments (tagged), one untagged
droplet, one in a region its deployment does not record, a volume, a balance and last month's
invoice. Pages label its data "Demo provider".
"""
from dataclasses import dataclass
from datetime import date, datetime, timezone

from .digitalocean import Balance, Droplet, InvoiceItem, InvoiceSummary, Volume
from .regions import PUBLISHED_REGIONS

# Small droplets at DigitalOcean's list prices (USD cents a month), so the demo's margins are
# plausible; the stray box is the smallest.
SIZES = {1: "s-1vcpu-512mb-10gb", 2: "s-1vcpu-1gb", 3: "s-1vcpu-2gb"}
MONTHLY_CENTS = {"s-1vcpu-512mb-10gb": 400, "s-1vcpu-1gb": 600, "s-1vcpu-2gb": 1200}


@dataclass
class DemoProvider:
    droplet_list: list
    volume_list: list
    today: date

    @classmethod
    def for_deployments(cls, deployments, today: date) -> "DemoProvider":
        """``deployments``: rows of (id, region, status)."""
        created = datetime(2026, 1, 1, tzinfo=timezone.utc)
        droplets, volumes = [], []
        live = [d for d in deployments if d[2] in ("active", "suspended", "provisioning")]
        for n, (dep_id, region, status) in enumerate(live):
            count = 1 + dep_id % 3
            for i in range(count):
                size = SIZES[1 + (dep_id + i) % 3]
                # The second droplet of the first deployment drifted to another region.
                where = "sgp1" if (n == 0 and i == 1) else region
                droplets.append(Droplet(
                    provider_id=str(500000 + dep_id * 10 + i), name=f"dep{dep_id}-node{i}",
                    region=where, size=size, status="off" if status == "suspended" else "active",
                    tags=(f"arcadia:deployment:{dep_id}", "arcadia"), created_at=created))
            volumes.append(Volume(
                provider_id=f"demo-vol-{dep_id}", name=f"dep{dep_id}-data", region=region,
                size="10gb", status="attached", tags=(f"arcadia:deployment:{dep_id}",),
                droplet_ids=(str(500000 + dep_id * 10),), created_at=created))
        droplets.append(Droplet(provider_id="599999", name="scratch-box", region="syd1",
                                size="s-1vcpu-512mb-10gb", status="active", tags=(), created_at=created))
        return cls(droplets, volumes, today)

    def regions(self):
        return list(PUBLISHED_REGIONS)

    def droplets(self):
        return list(self.droplet_list)

    def volumes(self):
        return list(self.volume_list)

    def balance(self) -> Balance:
        usage = sum(MONTHLY_CENTS.get(d.size, 600) for d in self.droplet_list) * self.today.day // 30
        return Balance(month_to_date_usage_cents=usage, month_to_date_balance_cents=usage,
                       account_balance_cents=0,
                       generated_at=datetime.combine(self.today, datetime.min.time(), tzinfo=timezone.utc))

    def _last_month(self) -> str:
        first = self.today.replace(day=1)
        year, month = (first.year, first.month - 1) if first.month > 1 else (first.year - 1, 12)
        return f"{year:04d}-{month:02d}"

    def invoices(self):
        period = self._last_month()
        total = sum(i.amount_cents for i in self.invoice_items(f"demo-{period}"))
        return [InvoiceSummary(invoice_uuid=f"demo-{period}", period=period, amount_cents=total)]

    def invoice_items(self, invoice_uuid: str):
        items = [InvoiceItem(product="Droplets", resource_id=d.provider_id, resource_uuid=None,
                             description=d.name, amount_cents=MONTHLY_CENTS.get(d.size, 600),
                             duration="720", duration_unit="Hours", start_time=None,
                             end_time=None, project_name=None, category="iaas")
                 for d in self.droplet_list]
        items += [InvoiceItem(product="Volumes", resource_id=None, resource_uuid=v.provider_id,
                              description=v.name, amount_cents=100, duration="720",
                              duration_unit="Hours", start_time=None, end_time=None,
                              project_name=None, category="iaas")
                  for v in self.volume_list]
        return items

    def close(self):
        pass
