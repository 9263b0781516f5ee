"""SQLAlchemy models, one module per domain. Importing this package registers them all."""
from .catalog import Addon, Plan, PlanItem, PlanVersion
from .deployments import Deployment, DeploymentTransition, Subscription, SubscriptionAddon
from .invoices import Counter, Invoice, InvoiceDocument, InvoiceLine, RollupRun
from .payments import CreditAllocation, CreditNote, CreditNoteLine, Payment
from .provider import DriftItem, ProviderBalance, ProviderCostLine, ProviderResource, SyncRun
from .tenancy import ApiToken, AuditEntry, LoginAttempt, Tenant, User
from .usage import UsageEvent

__all__ = [
    "DriftItem", "ProviderBalance", "ProviderCostLine", "ProviderResource", "SyncRun",
    "CreditAllocation", "CreditNote", "CreditNoteLine", "Payment",
    "Addon", "ApiToken", "AuditEntry", "Counter", "Deployment", "DeploymentTransition",
    "Invoice", "InvoiceDocument", "InvoiceLine", "LoginAttempt", "Plan", "PlanItem",
    "PlanVersion", "RollupRun", "Subscription", "SubscriptionAddon", "Tenant", "UsageEvent",
    "User",
]
