"""The audit log for platform admins: newest first, filtered, keyset-paged."""
from flask import request

from ...auth import requires
from ...services import audit
from ...services.paging import next_path
from . import api_bp, serializers


@api_bp.get("/audit")
@requires("audit.read")
def audit_log():
    filters = audit.parse_filters(request.args)
    before, per_page = audit.parse_keyset(request.args)
    rows, next_before = audit.page_of_entries(filters, before, per_page)
    return {
        "audit": [serializers.audit_entry(e) for e in rows],
        "next": next_path(".audit_log", before=next_before) if next_before else None,
    }
