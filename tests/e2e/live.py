"""A live portal for browser tests: its own PostgreSQL database with the demo loaded (and
whatever ``setup`` adds), served on 127.0.0.1 from a thread of the test process."""
import contextlib
import threading

import flask_migrate
import sqlalchemy as sa
from werkzeug.serving import make_server

from portal import create_app
from portal.extensions import db
from tests.conftest import TEST_CONFIG, TEST_DATABASE_URL, _recreate_database


@contextlib.contextmanager
def live_portal(database_suffix: str, setup=None, **config):
    """Yield (base URL, app, what ``setup()`` returned, run in an app context after the demo)."""
    url = sa.engine.make_url(TEST_DATABASE_URL)
    database_url = url.set(database=f"{url.database}_{database_suffix}").render_as_string(hide_password=False)
    _recreate_database(database_url)
    app = create_app({**TEST_CONFIG, "TESTING": False, "SQLALCHEMY_DATABASE_URI": database_url, **config})
    with app.app_context():
        flask_migrate.upgrade()
        from portal.services.demo import load_demo

        load_demo()
        extra = setup() if setup else None
        db.session.remove()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", app, extra
    finally:
        server.shutdown()
        thread.join(timeout=10)
        with app.app_context():
            db.engine.dispose()
