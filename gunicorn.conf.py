"""gunicorn's settings for `make run` (and the bench, which starts the app the same way).

Threads and runs: a worker executes at most [outbound] max_concurrent_runs (12) runs at once, and lets
max_waiting_runs (4) more wait a moment for a place; 20 threads leave 4 for pages, the API's other
calls and /healthz however slow the services being called are. Raise both together. (12, not fewer: a
client's kept-alive connections stay with one worker, so 16 clients may all land on the same one.)
"""

worker_class = "gthread"
workers = 2
threads = 20
timeout = 300
# The app is built once, before the workers fork: they share its code and data pages (copy-on-write)
# instead of each importing everything again.
preload_app = True


def post_fork(server, worker):
    """Each worker opens its own database connections: none made before the fork may be shared."""
    from app.db import db
    from wsgi import app

    with app.app_context():
        db.engine.dispose(close=False)
