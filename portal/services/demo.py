"""A populated portal for trying it out. Idempotent: running it again adds nothing twice."""
from ..models.tenancy import PLATFORM_ADMIN, TENANT_ADMIN, TENANT_VIEWER
from . import accounts, catalog

DEMO_PASSWORD = "arcadia-demo"
DEMO_TENANTS = [
    {
        "slug": "acme",
        "name": "Acme AI",
        "billing_name": "Acme AI Pty Ltd",
        "billing_address": "Level 3, 12 Example Street\nSydney NSW 2000\nAustralia",
        "abn": "51 824 753 556",
    },
    {
        "slug": "globex",
        "name": "Globex Research",
        "billing_name": "Globex Research Pty Ltd",
        "billing_address": "88 Sample Road\nMelbourne VIC 3000\nAustralia",
        "abn": None,
    },
]
DEMO_USERS = [
    ("admin@example.com", PLATFORM_ADMIN, None),
    ("alice@example.com", TENANT_ADMIN, "acme"),
    ("victor@example.com", TENANT_VIEWER, "acme"),
    ("gina@example.com", TENANT_ADMIN, "globex"),
]


def load_demo() -> list[str]:
    """Seed the catalog, then demo tenants and users. Returns what was created."""
    done = []
    catalog.seed_catalog()
    for spec in DEMO_TENANTS:
        if accounts.tenant_by_slug(spec["slug"]) is None:
            accounts.create_tenant(
                spec["slug"],
                spec["name"],
                billing_name=spec["billing_name"],
                billing_address=spec["billing_address"],
                abn=spec["abn"],
            )
            done.append(f"tenant {spec['slug']}")
    for email, role, tenant in DEMO_USERS:
        if accounts.user_by_email(email) is None:
            accounts.create_user(email, role, DEMO_PASSWORD, tenant)
            done.append(f"user {email} ({role})")
    return done
