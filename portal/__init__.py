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
    if app.config["SECRET_KEY"] == DEV_SECRET_KEY and not app.testing:
        # Anyone who knows this key can forge sessions: fine on a laptop, never in production.
        app.logger.warning("SECRET_KEY is not set: sessions are signed with a public dev key")

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
    from . import cli, http_errors, inputs, templating
    from .blueprints import register_blueprints

    inputs.register(app)
    register_blueprints(app)
    http_errors.register(app)
    templating.register(app)
    cli.register(app)
    return app


class BoundedInt(IntegerConverter):
    def __init__(self, url_map, *args, **kwargs):
        kwargs.setdefault("max", 2**31 - 1)
        super().__init__(url_map, *args, **kwargs)


def _sqlite_foreign_keys(dbapi_connection, _record):
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
