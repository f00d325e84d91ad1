"""gunicorn's settings for `make run` (and the bench, which starts the app the same way).

Threads and runs: a worker executes at most [outbound] max_concurrent_runs (12) runs at once, and lets
max_waiting_runs (4) more wait a moment for a place; 20 threads leave 4 for pages, the API's other
calls and /healthz however slow the services being called are. Raise both together. (12, not fewer: a
client's kept-alive connections stay with one worker, so 16 clients may all land on the same one.)

Memory: a thread that calls malloc while the arena it used is busy gets one of its own (up to 8 per
CPU), and each keeps what it frees: 20 threads made ~15 arenas holding ~7 MB a worker. The GIL orders
nearly every allocation anyway, so two arenas serve as fast. MALLOC_ARENA_MAX would need the environment
of a process not yet started; mallopt sets the same in the master, before it builds the app and forks.
"""

import ctypes
import gc

worker_class = "gthread"
workers = 2
threads = 20
timeout = 300
# The app is built once, before the workers fork: they share its code and data pages (copy-on-write)
# instead of each importing everything again.
preload_app = True

M_ARENA_MAX = -8  # glibc's <malloc.h>
_mallopt = getattr(ctypes.CDLL(None), "mallopt", None)  # glibc and musl have it; elsewhere nothing to tune
if _mallopt is not None:
    _mallopt(M_ARENA_MAX, 2)


def pre_fork(server, worker):
    """Move everything the app built to the garbage collector's permanent generation: a worker's full
    collections then skip it, instead of writing to every shared page (a copy of each in every worker)."""
    gc.freeze()


def post_fork(server, worker):
    """Each worker opens its own database connections: none made before the fork may be shared."""
    from app.db import db
    from wsgi import app

    with app.app_context():
        db.engine.dispose(close=False)
