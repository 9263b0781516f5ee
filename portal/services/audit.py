"""The audit log: every admin write records who did what, in the same transaction."""
from ..extensions import db
from ..models import AuditEntry, User


def record(actor: User | None, action: str, target_type: str, target_id: int | None, **details):
    db.session.add(
        AuditEntry(
            actor_user_id=actor.id if actor else None,
            actor=actor.email if actor else "cli",
            action=action,
            target_type=target_type,
            target_id=target_id,
            details=details,
        )
    )
