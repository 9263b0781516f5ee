"""The Arcadia portal: billing and operations plane. ``create_app`` is the factory."""
import os

from flask import Flask
from sqlalchemy import event
from werkzeug.routing import IntegerConverter

from .config import DEV_SECRET_KEY, from_environment
from .extensions import csrf, db, login_manager, migrate
from .jsonutil import PortalJSONProvider

MIGRATIONS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "migrations")


def create_app(test_config: dict | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    # An id in a path that no database key can hold matches no route (404), not a 500.
    app.url_map.converters["int"] = BoundedInt
    os.makedirs(app.instance_path, exist_ok=True)
    app.config.from_mapping(from_environment(app.instance_path))
    if test_config:
        app.config.from_mapping(test_config)
    app.json = PortalJSONProvider(app)
    _require_secret_key(app)

    from . import models  # noqa: F401  (registers the tables)

    db.init_app(app)
    migrate.init_app(app, db, directory=MIGRATIONS, render_as_batch=True)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    csrf.init_app(app)
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        with app.app_context():
            event.listen(db.engine, "connect", _sqlite_foreign_keys)

    from . import auth  # noqa: F401  (the user loader)
    from . import cli, http_errors, inputs, security, templating
    from .blueprints import register_blueprints

    inputs.register(app)
    register_blueprints(app)
    http_errors.register(app)
    security.register(app)
    templating.register(app)
    cli.register(app)
    return app


def _require_secret_key(app: Flask) -> None:
    """Anyone who knows a public key can forge an admin session: refuse to start without a
    real one, except in debug or testing, where the public dev key stands in."""
    if app.config.get("SECRET_KEY") not in (None, "", DEV_SECRET_KEY):
        return
    if not (app.debug or app.testing):
        raise RuntimeError(
            "SECRET_KEY is not set: refusing to start. Set it in the environment to a long "
            "random value (python -c 'import secrets; print(secrets.token_hex(32))'), the same "
            "for the web app and the worker."
        )
    app.config["SECRET_KEY"] = DEV_SECRET_KEY
    if not app.testing:
        app.logger.warning("SECRET_KEY is not set: sessions are signed with a public dev key")


class BoundedInt(IntegerConverter):
    def __init__(self, url_map, *args, **kwargs):
        kwargs.setdefault("max", 2**31 - 1)
        super().__init__(url_map, *args, **kwargs)


def _sqlite_foreign_keys(dbapi_connection, _record):
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
