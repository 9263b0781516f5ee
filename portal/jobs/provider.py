"""Scheduled provider syncs: inventory hourly, billing daily."""
from ..services import provider_sync


def sync_inventory() -> dict:
    return provider_sync.sync(parts=("inventory",)).as_dict()


def sync_billing() -> dict:
    return provider_sync.sync(parts=("billing",)).as_dict()


def sync_all() -> dict:
    return provider_sync.sync().as_dict()
