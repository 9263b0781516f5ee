"""Webhook deliveries on the messages queue (and the scheduler's sweep)."""
from ..services import webhooks


def deliver_due() -> dict:
    return webhooks.deliver_due()
