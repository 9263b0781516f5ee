"""Work started at the same moment on several threads, each with an app context (and so a
database session and connection) of its own: for the tests of what happens at once."""
import threading

from portal.extensions import db


def at_once(app, *works, timeout: float = 120) -> list:
    """Run each of ``works`` on its own thread, all released together by a barrier → their
    results, in the order of ``works``. A thread that raises, or never finishes (a deadlock),
    fails the test."""
    barrier = threading.Barrier(len(works))
    results, errors = [None] * len(works), []

    def run(index, work):
        with app.app_context():
            try:
                barrier.wait(timeout=30)
                results[index] = work()
            except Exception as exc:  # surfaced below: a thread's failure must fail the test
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=item) for item in enumerate(works)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=timeout)
    assert not any(t.is_alive() for t in threads), "a thread never finished (a deadlock?)"
    assert errors == [], errors
    return results
