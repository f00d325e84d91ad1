"""The benchmark (`make bench`): bench.py, and live.py for the app served by gunicorn."""
