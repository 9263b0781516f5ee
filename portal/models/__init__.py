"""SQLAlchemy models, one module per domain. Importing this package registers them all."""
from .catalog import Addon, Plan, PlanItem, PlanVersion
from .deployments import Deployment, DeploymentTransition, Subscription, SubscriptionAddon
from .idempotency import IdempotencyKey
from .invoices import Counter, Invoice, InvoiceDocument, InvoiceLine, RollupRun
from .mail import MailMessage
from .payments import CreditAllocation, CreditNote, CreditNoteLine, Payment
from .provider import (
    DriftItem,
    ProviderBalance,
    ProviderCostLine,
    ProviderRegion,
    ProviderResource,
    SyncRun,
)
from .tenancy import ApiToken, AuditEntry, LoginAttempt, Tenant, User, UserLink
from .usage import UsageDaily, UsageEvent
from .webhooks import Webhook, WebhookAttempt, WebhookDelivery, WebhookEvent

__all__ = [
    "DriftItem", "ProviderBalance", "ProviderCostLine", "ProviderRegion", "ProviderResource",
    "SyncRun",
    "IdempotencyKey",
    "CreditAllocation", "CreditNote", "CreditNoteLine", "Payment",
    "Addon", "ApiToken", "AuditEntry", "Counter", "Deployment", "DeploymentTransition",
    "Invoice", "InvoiceDocument", "InvoiceLine", "LoginAttempt", "MailMessage", "Plan", "PlanItem",
    "PlanVersion", "RollupRun", "Subscription", "SubscriptionAddon", "Tenant", "UsageEvent",
    "User", "UserLink", "Webhook", "WebhookAttempt", "WebhookDelivery", "WebhookEvent",
    "UsageDaily",
]
