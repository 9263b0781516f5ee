"""The fake DigitalOcean API (a real HTTP server on 127.0.0.1) that provider sync talks to."""
import pytest

from tests.fakes.digitalocean import FakeDigitalOcean


@pytest.fixture
def fake(app, monkeypatch):
    """The portal configured to sync from it: its token, its URL, pages of two, a short timeout."""
    with FakeDigitalOcean(token="test-token") as server:
        server.per_page_max = 2
        monkeypatch.setitem(app.config, "DIGITALOCEAN_TOKEN", "test-token")
        monkeypatch.setitem(app.config, "DIGITALOCEAN_API_URL", server.url)
        monkeypatch.setitem(app.config, "PROVIDER_TIMEOUT_SECONDS", 2.0)
        yield server
