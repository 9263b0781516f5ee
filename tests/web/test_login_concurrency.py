"""Wrong passwords fired at once, on PostgreSQL with real commits: the throttle still counts
every one (no read-then-write race lets a burst through)."""
import threading

from sqlalchemy import func, select

from portal.errors import Throttled
from portal.models import LoginAttempt
from portal.services import accounts
from tests.factories import make_user

ATTEMPTS = 24


def _fire(app, committed, attempts):
    """Run ``attempts`` (email, ip) sign-ins with a wrong password at once; returns how many
    were checked (answered "wrong") and how many were refused as throttled."""
    barrier = threading.Barrier(len(attempts))
    checked, throttled, errors = [], [], []

    def run(email, ip):
        with app.app_context():
            try:
                barrier.wait(timeout=30)
                assert accounts.authenticate(email, "wrong-password", ip) is None
                checked.append(email)
            except Throttled:
                throttled.append(email)
            except Exception as exc:  # surfaced below: a thread's failure must fail the test
                errors.append(exc)
            finally:
                committed.session.remove()

    threads = [threading.Thread(target=run, args=a) for a in attempts]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    return len(checked), len(throttled)


def test_a_burst_for_one_email_gets_exactly_five_tries(app, committed):
    make_user(email="ann@example.com")
    committed.session.remove()
    attempts = [("ann@example.com", f"10.0.0.{n}") for n in range(ATTEMPTS)]
    assert _fire(app, committed, attempts) == (5, ATTEMPTS - 5)
    with app.app_context():
        # And the right password is refused now too.
        try:
            accounts.authenticate("ann@example.com", "password123", "10.0.1.1")
            raise AssertionError("not throttled")
        except Throttled as exc:
            assert exc.retry_after > 0
        assert committed.session.scalar(select(func.count()).select_from(LoginAttempt)) == 5
        committed.session.remove()


def test_a_burst_from_one_address_gets_exactly_twenty_tries(app, committed):
    attempts = [(f"who{n}@example.com", "10.9.9.9") for n in range(ATTEMPTS + 6)]
    assert _fire(app, committed, attempts) == (20, ATTEMPTS + 6 - 20)
