"""Email: deliver one recorded message (retried by RQ), and the daily overdue reminders."""
from ..clock import today
from ..services import mail


def deliver(message_id: int) -> dict:
    return mail.deliver(message_id)


def send_reminders() -> dict:
    """The daily job: the reminders due as of today (UTC), and a second chance for any message
    whose delivery job was lost. Safe to run late and twice."""
    result = mail.send_reminders(today()).as_dict()
    result["requeued"] = mail.requeue_stale()
    return result
