"""Cases benchmark: the Cases list over 10,000 cases, a case page with many comments and alerts, and a
`.cases` system action run.

Run with `.venv/bin/python bench/cases.py`. Everything happens in a temporary instance folder that is removed
at the end; no network. Times are server-side (Flask's test client, in-process), timed with
time.perf_counter around each request: WARMUP requests first, then N measured; the table shows the median
and p95 in milliseconds and the SQL statements per request.

Environment: BENCH_N (default 100), BENCH_WARMUP (default 10), BENCH_CASES (default 10000).
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

from cryptography.fernet import Fernet
from flask_migrate import upgrade
from sqlalchemy import event as sa_event
from sqlalchemy import insert

from app import create_app
from app.case_models import Case, CaseAlert, CaseComment
from app.db import db
from app.models import utcnow
from app.services import accounts
from app.settings import FileConfig, OutboundSettings

N = int(os.environ.get("BENCH_N", "100"))
WARMUP = int(os.environ.get("BENCH_WARMUP", "10"))
CASES = int(os.environ.get("BENCH_CASES", "10000"))
BIG_CASE_COMMENTS, BIG_CASE_ALERTS = 200, 1000


def seed(app) -> str:
    """CASES cases (two comments and three alerts each) and one big case; returns the big case's id."""
    now = utcnow()
    with app.app_context():
        cases, comments, alerts = [], [], []
        for n in range(CASES):
            case_id = str(uuid.uuid4())
            cases.append({"id": case_id, "title": f"Case {n} on host-{n % 97}", "description": "d", "severity": "low",
                          "status": ("open", "in-progress", "closed")[n % 3], "tags": ["bench"], "owner": "cases",
                          "created_by": "bench", "created_at": now, "updated_at": now - timedelta(seconds=n)})
            comments += [{"case_id": case_id, "comment": f"note {k}", "created_by": "bench", "created_at": now}
                         for k in range(2)]
            alerts += [{"case_id": case_id, "alert_id": f"a-{n}-{k}", "alert_index": "i", "attached_at": now}
                       for k in range(3)]
        big = str(uuid.uuid4())
        cases.append({"id": big, "title": "Big case", "description": "d", "severity": "high", "status": "open",
                      "tags": ["bench"], "owner": "cases", "created_by": "bench", "created_at": now, "updated_at": now})
        comments += [{"case_id": big, "comment": f"note {k}", "created_by": "bench", "created_at": now}
                     for k in range(BIG_CASE_COMMENTS)]
        alerts += [{"case_id": big, "alert_id": f"big-{k}", "alert_index": "i", "attached_at": now}
                   for k in range(BIG_CASE_ALERTS)]
        for table, rows in ((Case, cases), (CaseComment, comments), (CaseAlert, alerts)):
            for start in range(0, len(rows), 5000):
                db.session.execute(insert(table), rows[start:start + 5000])
        db.session.commit()
    return big


def measure(app, name: str, call) -> tuple[str, float, float, float]:
    statements = [0]

    def count(*_args):
        statements[0] += 1

    with app.app_context():
        engine = db.engine
    times = []
    for i in range(WARMUP + N):
        statements[0] = 0
        sa_event.listen(engine, "before_cursor_execute", count)
        started = time.perf_counter()
        response = call(i)
        elapsed = (time.perf_counter() - started) * 1000
        sa_event.remove(engine, "before_cursor_execute", count)
        assert response.status_code == 200, (name, response.status_code, response.get_data(as_text=True)[:300])
        if i >= WARMUP:
            times.append(elapsed)
    times.sort()
    p95 = times[min(len(times) - 1, math.ceil(0.95 * len(times)) - 1)]
    return name, statistics.median(times), p95, statements[0]


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="switchboard-cases-bench-"))
    try:
        app = create_app({"INSTANCE_PATH": str(folder), "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'bench.db'}",
                          "SWITCHBOARD_ENCRYPTION_KEYS": [Fernet.generate_key().decode()],
                          "SWITCHBOARD": FileConfig(outbound=OutboundSettings())})
        with app.app_context():
            upgrade(directory=app.extensions["migrate"].directory)
            accounts.create_user("bench", "bench-password-1", "admin")
            key = accounts.create_api_key("bench", "admin", None).encoded
        big = seed(app)
        client = app.test_client()
        page = client.get("/sign-in").get_data(as_text=True)
        token = page.split('name="csrf_token" value="')[1].split('"')[0]
        client.post("/sign-in", data={"csrf_token": token, "username": "bench", "password": "bench-password-1"})
        api = app.test_client()
        headers = {"Authorization": f"ApiKey {key}", "kbn-xsrf": "true"}

        def run_action(i: int):
            alerts = [{"_id": f"r{i}-{k}", "_index": "i", "host.name": f"h{k % 10}"} for k in range(100)]
            body = {"alerts": alerts, "groupingBy": ["host.name"], "owner": "cases", "maximumCasesToOpen": 20,
                    "rule": {"id": "bench-rule", "name": "Bench rule"}}
            return api.post("/api/actions/connector/system-connector-.cases/_execute", headers=headers,
                            json={"params": {"subAction": "run", "subActionParams": body}})

        rows = [
            measure(app, f"Cases list, first page ({CASES:,} cases)", lambda i: client.get("/cases")),
            measure(app, "Cases search fragment (HTMX, q + status)",
                    lambda i: client.get(f"/cases?q=host-{i % 97}&status=open", headers={"HX-Request": "true"})),
            measure(app, f"Case page ({BIG_CASE_COMMENTS} comments, {BIG_CASE_ALERTS} alerts)",
                    lambda i: client.get(f"/cases/{big}")),
            measure(app, ".cases run: 100 alerts into 10 cases (_execute)", run_action),
        ]
        print(f"\nCases benchmark — {N} measured requests after {WARMUP} warm-up, server-side\n")
        print(f"{'scenario':58} {'median ms':>10} {'p95 ms':>8} {'SQL/req':>8}")
        for name, median, p95, sql in rows:
            print(f"{name:58} {median:10.1f} {p95:8.1f} {sql:8d}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
