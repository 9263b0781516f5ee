"""SQLAlchemy models, one module per domain. Importing this package registers them all."""
from .catalog import Addon, Plan, PlanItem, PlanVersion
from .deployments import Deployment, DeploymentTransition, Subscription, SubscriptionAddon
from .tenancy import ApiToken, AuditEntry, LoginAttempt, Tenant, User

__all__ = [
    "Addon", "ApiToken", "AuditEntry", "Deployment", "DeploymentTransition", "LoginAttempt",
    "Plan", "PlanItem", "PlanVersion", "Subscription", "SubscriptionAddon", "Tenant", "User",
]
