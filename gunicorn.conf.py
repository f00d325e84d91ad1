"""gunicorn's settings for `make run` (and the bench, which starts the app the same way).

Threads and runs: a worker executes at most [outbound] max_concurrent_runs (8) runs at once, and lets
max_waiting_runs (4) more wait a moment for a place; 16 threads leave 4 for pages, the API's other
calls and /healthz however slow the services being called are. Raise both together.
"""

worker_class = "gthread"
workers = 2
threads = 16
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
