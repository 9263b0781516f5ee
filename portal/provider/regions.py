"""DigitalOcean's public regions as published (GET /v2/regions, November 2026).

The portal offers these before the first ``provider sync`` has stored the provider's own list
(and the demo provider answers with them): a fresh install can create deployments at once,
and the first sync replaces them with what the account actually sees.
"""
from .digitalocean import Region

_STANDARD_SIZES = ("s-1vcpu-512mb-10gb", "s-1vcpu-1gb", "s-1vcpu-2gb", "s-2vcpu-2gb",
                   "s-2vcpu-4gb", "s-4vcpu-8gb")
_FEATURES = ("backups", "ipv6", "metadata", "install_agent", "storage", "image_transfer")

PUBLISHED_REGIONS: tuple[Region, ...] = tuple(
    Region(slug=slug, name=name, available=available,
           sizes=_STANDARD_SIZES if available else (), features=_FEATURES)
    for slug, name, available in (
        ("ams2", "Amsterdam 2", False),
        ("ams3", "Amsterdam 3", True),
        ("atl1", "Atlanta 1", True),
        ("blr1", "Bangalore 1", True),
        ("fra1", "Frankfurt 1", True),
        ("lon1", "London 1", True),
        ("nyc1", "New York 1", True),
        ("nyc2", "New York 2", False),
        ("nyc3", "New York 3", True),
        ("sfo1", "San Francisco 1", False),
        ("sfo2", "San Francisco 2", True),
        ("sfo3", "San Francisco 3", True),
        ("sgp1", "Singapore 1", True),
        ("syd1", "Sydney 1", True),
        ("tor1", "Toronto 1", True),
    )
)
