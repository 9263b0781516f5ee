"""What each role may do: the one table of role checks (pure; views and services use it)."""
from .errors import Forbidden
from .models.deployments import DECOMMISSIONED
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
    # Who moves a deployment: the operator makes every transition; a tenant_admin may only
    # decommission its own (activating, suspending and resuming are billing decisions).
    "deployments.transition": ADMIN_ONLY,
    "deployments.decommission": TENANT_WRITERS,
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


def transition_permission(to_state: str) -> str:
    """The permission a move to ``to_state`` needs."""
    return "deployments.decommission" if to_state == DECOMMISSIONED else "deployments.transition"


def may_transition_to(user, to_state: str) -> bool:
    return can(user, transition_permission(to_state))


def may_move_deployments(user) -> bool:
    """Whether ``user`` may make any transition at all (a tenant_viewer may not)."""
    return can(user, "deployments.transition") or can(user, "deployments.decommission")


def check_transition(user, to_state: str | None = None) -> None:
    """Raise Forbidden unless ``user`` may move a deployment to ``to_state`` (without one:
    unless it may make some move, so a role that moves nothing is 403 whatever it asks)."""
    if not may_move_deployments(user):
        raise Forbidden("Your role may not do this.")
    if to_state is not None and not may_transition_to(user, to_state):
        raise Forbidden("Your role may only decommission a deployment.")
