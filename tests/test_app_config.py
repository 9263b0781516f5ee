"""The app refuses to start with a public SECRET_KEY (anyone could forge an admin session),
except in debug or testing."""
import os
import subprocess
import sys

import pytest

from portal import create_app
from portal.config import DEV_SECRET_KEY

BASE = {"SQLALCHEMY_DATABASE_URI": "sqlite://"}


@pytest.fixture
def no_secret_key(monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("FLASK_DEBUG", raising=False)


def test_without_secret_key_the_app_refuses_to_start(no_secret_key):
    with pytest.raises(RuntimeError, match="SECRET_KEY is not set: refusing to start"):
        create_app(BASE)


def test_the_public_dev_key_counts_as_unset(no_secret_key):
    with pytest.raises(RuntimeError, match="SECRET_KEY is not set: refusing to start"):
        create_app({**BASE, "SECRET_KEY": DEV_SECRET_KEY})


def test_debug_and_testing_start_with_the_dev_key(no_secret_key):
    for flag in ("DEBUG", "TESTING"):
        app = create_app({**BASE, flag: True})
        assert app.config["SECRET_KEY"] == DEV_SECRET_KEY


def test_a_secret_key_from_the_environment_is_used(no_secret_key, monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "a-long-random-production-key")
    assert create_app(BASE).config["SECRET_KEY"] == "a-long-random-production-key"


def test_the_command_line_says_why_it_will_not_start(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "FLASK_DEBUG")}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'x.sqlite3'}"
    done = subprocess.run([sys.executable, "-m", "flask", "--app", "portal", "db", "upgrade"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "SECRET_KEY is not set: refusing to start" in done.stderr
    debug = subprocess.run([sys.executable, "-m", "flask", "--app", "portal", "--debug", "db",
                            "upgrade"], env=env, capture_output=True, text=True, timeout=120)
    assert debug.returncode == 0, debug.stderr
