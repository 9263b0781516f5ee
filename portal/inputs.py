"""The edge: every query string, form and JSON body is checked once, before any view, for
text no field can hold (NUL, control characters, invalid Unicode, absurd length) and numbers
beyond any field's range. Each problem is a 422 naming its field; fields then check their own
meaning (services/validation.py)."""
from flask import request

from .errors import ValidationError
from .services.validation import args_errors, input_errors, string_problem

FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")
# Read by their views as untrusted and replaced when unfit: a hostile ``next`` after sign-in
# lands on "/" (the contract), rather than on an error page.
SANITISED_BY_THEIR_VIEW = {"next"}


def check_query_and_form() -> None:
    errors = {k: v for k, v in args_errors(request.args).items() if k not in SANITISED_BY_THEIR_VIEW}
    if request.method in ("POST", "PUT", "PATCH") and request.mimetype in FORMS:
        for name, problem in args_errors(request.form, names="form field").items():
            if name not in SANITISED_BY_THEIR_VIEW:
                errors.setdefault(name, problem)
        for name, upload in request.files.items():
            problem = string_problem(upload.filename or "", 255)
            if problem:
                errors.setdefault(name, f"its file name {problem}")
    if errors:
        raise ValidationError(errors)


def check_json(data) -> None:
    errors = input_errors(data)
    if errors:
        raise ValidationError(errors)


def register(app) -> None:
    @app.before_request
    def _check_inputs():
        if not request.path.startswith("/api/"):  # the API checks after authenticating
            check_query_and_form()
