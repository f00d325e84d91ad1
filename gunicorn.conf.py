"""gunicorn's settings for `make run` (and the bench, which starts the app the same way)."""

worker_class = "gthread"
workers = 2
threads = 8
timeout = 300
