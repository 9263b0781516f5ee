"""What each role may do: the one table of role checks (pure; views and services use it)."""
from .errors import Forbidden
from .models.tenancy import PLATFORM_ADMIN, ROLES, TENANT_ADMIN

ADMIN_ONLY = (PLATFORM_ADMIN,)
TENANT_WRITERS = (PLATFORM_ADMIN, TENANT_ADMIN)

# permission -> roles that hold it. Code names a permission, never a role.
PERMISSIONS: dict[str, tuple[str, ...]] = {
    "catalog.read": ROLES,
    "catalog.manage": ADMIN_ONLY,
    "quote.price": ROLES,
    "tenants.manage": ADMIN_ONLY,
    "tenants.read": TENANT_WRITERS,  # a tenant_admin reads its own tenant's profile
    "deployments.read": ROLES,
    "deployments.create": TENANT_WRITERS,  # a tenant_admin requests one for its own tenant
    "deployments.transition": TENANT_WRITERS,
    "deployments.subscribe": ADMIN_ONLY,
    "usage.ingest": ADMIN_ONLY,
    "invoices.read": ROLES,
    "invoices.manage": ADMIN_ONLY,
    "jobs.read": ADMIN_ONLY,
    "provider.read": ADMIN_ONLY,
    "provider.manage": ADMIN_ONLY,
    "webhooks.manage": ADMIN_ONLY,
    "tokens.own": ROLES,  # every signed-in user manages its own API tokens
    "tokens.manage": ADMIN_ONLY,  # see and revoke anyone's tokens (the CLI's `tokens revoke`)
    "audit.read": ADMIN_ONLY,
    "users.manage": TENANT_WRITERS,  # a tenant_admin its own tenant's users only
    "mail.read": ADMIN_ONLY,  # the outbox and an invoice's messages
}


def can(user, permission: str) -> bool:
    return user is not None and user.role in PERMISSIONS[permission]


def check(user, permission: str) -> None:
    """Raise Forbidden unless ``user`` holds ``permission``."""
    if not can(user, permission):
        raise Forbidden("Your role may not do this.")
