"""The domain's one exception family; mapped to HTTP (JSON or a page) in one handler."""


class DomainError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, fields: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.fields = fields or {}


class BadRequest(DomainError):
    status, code = 400, "bad_request"


class Unauthorized(DomainError):
    status, code = 401, "unauthorized"


class Forbidden(DomainError):
    status, code = 403, "forbidden"


class NotFound(DomainError):
    status, code = 404, "not_found"


class Conflict(DomainError):
    status, code = 409, "conflict"


class ValidationError(DomainError):
    status, code = 422, "validation_error"

    def __init__(self, fields: dict[str, str], message: str | None = None):
        first = next(iter(fields.items()), None)
        super().__init__(message or (f"{first[0]}: {first[1]}" if first else "invalid input"), fields)


class Throttled(DomainError):
    status, code = 429, "too_many_requests"

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after
