"""SQLAlchemy models, one module per domain. Importing this package registers them all."""
from .catalog import Addon, Plan, PlanItem, PlanVersion
from .deployments import Deployment, DeploymentTransition, Subscription, SubscriptionAddon
from .idempotency import IdempotencyKey
from .invoices import Counter, Invoice, InvoiceDocument, InvoiceLine, RollupRun
from .mail import MailMessage
from .provider import DriftItem, ProviderBalance, ProviderCostLine, ProviderResource, SyncRun
from .tenancy import ApiToken, AuditEntry, LoginAttempt, Tenant, User, UserLink
from .usage import UsageEvent
from .webhooks import Webhook, WebhookAttempt, WebhookDelivery, WebhookEvent

__all__ = [
    "DriftItem", "ProviderBalance", "ProviderCostLine", "ProviderResource", "SyncRun",
    "IdempotencyKey",
    "Addon", "ApiToken", "AuditEntry", "Counter", "Deployment", "DeploymentTransition",
    "Invoice", "InvoiceDocument", "InvoiceLine", "LoginAttempt", "MailMessage", "Plan", "PlanItem",
    "PlanVersion", "RollupRun", "Subscription", "SubscriptionAddon", "Tenant", "UsageEvent",
    "User", "UserLink", "Webhook", "WebhookAttempt", "WebhookDelivery", "WebhookEvent",
]
