"""Switchboard benchmark: list/search pages over 10,000 connectors, and the cost of a webhook test run.

Run with `make bench` (or `.venv/bin/python bench/bench.py`). Everything happens in a temporary
instance folder that is removed at the end; the only network traffic is to a receiver on 127.0.0.1.

Times are server-side: requests go through Flask's test client in-process (no sockets, no browser),
timed with time.perf_counter around each call. Each scenario runs WARMUP requests first, then N
measured ones; the table shows the median and p95 in milliseconds and the SQL statements per request.

Environment: BENCH_N (default 200) and BENCH_WARMUP (default 20) scale the loops;
BENCH_CONNECTORS (default 10000) the seeded table.
"""

from __future__ import annotations

import logging
import math
import os
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# First, so that `bench` is this folder's package and not this very file (run as a script, its folder leads).
sys.path.insert(0, str(ROOT))

# Quiet before create_app: it only configures logging when the root logger has no handlers, and the
# receiver's werkzeug server would otherwise log every request.
logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

import requests
from cryptography.fernet import Fernet
from flask_migrate import upgrade
from sqlalchemy import event as sa_event
from sqlalchemy import insert

from app import create_app
from app.db import db
from app.models import Connector, Event
from app.services import accounts, executions
from app.services import connectors as store
from app.services import keyring as services_keyring
from app.settings import FileConfig, OutboundSettings
from app.types.bedrock import DEFAULT_MODEL, DEFAULT_URL
from app.types.webhook import BASIC
from bench import served
from tests.fakes.receiver import Receiver

N = int(os.environ.get("BENCH_N", "200"))
WARMUP = int(os.environ.get("BENCH_WARMUP", "20"))
CONNECTORS = int(os.environ.get("BENCH_CONNECTORS", "10000"))
EVENTS_PER_CONNECTOR = 4  # seeded history (for half the connectors) so "Last run" has something to look up
BATCH = 2000
SEED = 20240601

TEAMS = ["Payments", "Checkout", "Search", "Billing", "Identity", "Platform", "Data", "Mobile",
         "Security", "Growth", "Support", "Infra"]
PURPOSES = ["alerts", "incident hook", "deploy notices", "audit trail", "on-call page", "SLO burn",
            "nightly report", "error digest", "LLM summarizer", "chat assistant", "triage bot", "status feed"]
ENVS = ["prod", "prod-eu", "prod-us", "staging", "dev", "qa"]
TYPES = [(".webhook", 0.5), (".server-log", 0.25), (".bedrock", 0.25)]


# ---- helpers -------------------------------------------------------------------------------------


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


class QueryCounter:
    """Counts SQL statements sent on the app's engine (to spot N+1 patterns)."""

    def __init__(self, engine):
        self.count = 0
        sa_event.listen(engine, "before_cursor_execute", self._on_execute)

    def _on_execute(self, *_args, **_kw):
        self.count += 1


class Results:
    def __init__(self):
        self.rows: list[tuple[str, int, float, float, str, str]] = []
        self.medians: dict[str, float] = {}
        self.p95s: dict[str, float] = {}

    def add(self, key: str, label: str, times: list[float], queries: str = "", note: str = ""):
        med = statistics.median(times)
        self.medians[key] = med
        self.p95s[key] = pct(times, 95)
        self.rows.append((label, len(times), med, pct(times, 95), queries, note))

    def failed(self, label: str, note: str):
        self.rows.append((label, 0, float("nan"), float("nan"), "-", note))

    def print(self):
        w = max(len(r[0]) for r in self.rows)
        print(f"\n{'scenario':<{w}}  {'n':>4}  {'median ms':>9}  {'p95 ms':>8}  {'sql/req':>7}  note")
        print("-" * (w + 48))
        for label, n, med, p95, queries, note in self.rows:
            print(f"{label:<{w}}  {n:>4}  {med:>9.2f}  {p95:>8.2f}  {queries:>7}  {note}")


def measure(fn, counter: QueryCounter, n: int = N, warmup: int = WARMUP) -> tuple[list[float], str]:
    """Run fn warmup + n times; return the n timings (ms) and SQL statements per measured call."""
    for _ in range(warmup):
        fn()
    times = []
    before = counter.count
    for _ in range(n):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    per_call = (counter.count - before) / n
    return times, (f"{per_call:.0f}" if per_call == int(per_call) else f"{per_call:.1f}")


# ---- seeding -------------------------------------------------------------------------------------


def seed(app, rng: random.Random) -> dict:
    """Bulk-insert CONNECTORS connectors (secrets encrypted with the app's keyring) and some events."""
    with app.app_context():
        keyring = services_keyring()  # made on first use
    type_ids = [t for t, _ in TYPES]
    weights = [w for _, w in TYPES]
    now = datetime.now(UTC)
    started = time.perf_counter()
    rows = []
    for i in range(CONNECTORS):
        cid = str(uuid.uuid4())
        type_id = rng.choices(type_ids, weights)[0]
        name = f"{rng.choice(TEAMS)} {rng.choice(PURPOSES)} ({rng.choice(ENVS)}) {i:05d}"
        if type_id == ".webhook":
            config = {"url": f"https://hooks.example.com/services/{i:05d}", "method": "post",
                      "headers": {"X-Team": name.split()[0]}, "hasAuth": True, "authType": BASIC}
            secrets = {"user": f"svc-{i:05d}", "password": uuid.uuid4().hex}
            shape = {"user": True, "password": True}
        elif type_id == ".bedrock":
            config = {"apiUrl": DEFAULT_URL, "defaultModel": DEFAULT_MODEL}
            secrets = {"accessKey": f"AKIA{uuid.uuid4().hex[:16].upper()}", "secret": uuid.uuid4().hex * 2}
            shape = {"accessKey": True, "secret": True}
        else:
            config, secrets, shape = {}, {}, {}
        created = now - timedelta(minutes=rng.randrange(0, 60 * 24 * 365))
        rows.append({
            "id": cid,
            "name": name,
            "connector_type_id": type_id,
            "config": config,
            "secrets_encrypted": keyring.encrypt(cid, secrets),
            "secret_fields": shape,
            "is_missing_secrets": False,
            "created_at": created,
            "updated_at": created,
        })
    encrypted = time.perf_counter()
    events = []
    for row in rng.sample(rows, min(len(rows), CONNECTORS // 2)):
        for _ in range(EVENTS_PER_CONNECTOR):
            ok = rng.random() < 0.85
            events.append({
                "connector_id": row["id"],
                "connector_name": row["name"],
                "connector_type_id": row["connector_type_id"],
                "sub_action": None,
                "source": "test_pane",
                "actor": "seed@127.0.0.1",
                "started_at": now - timedelta(minutes=rng.randrange(0, 60 * 24 * 30)),
                "duration_ms": round(rng.uniform(5, 900), 1),
                "status": "ok" if ok else "error",
                "message": None if ok else "error calling webhook, retry later: [503] Service Unavailable",
                "http_status": 200 if ok else 503,
                "retry": None if ok else "true",
                "request_body_bytes": 24,
            })
    with app.app_context():
        for start in range(0, len(rows), BATCH):
            db.session.execute(insert(Connector), rows[start:start + BATCH])
        for start in range(0, len(events), BATCH):
            db.session.execute(insert(Event), events[start:start + BATCH])
        db.session.commit()
    done = time.perf_counter()
    print(f"seeded {len(rows):,} connectors + {len(events):,} events in {done - started:.2f} s "
          f"(build+encrypt {encrypted - started:.2f} s, insert {done - encrypted:.2f} s)")
    return {"rows": rows}


# ---- the scenarios -------------------------------------------------------------------------------


BENCH_USER, BENCH_PASSWORD = "bench-admin", "bench-password-" + uuid.uuid4().hex


def signed_in_client(app):
    """A test client signed in through the sign-in form (pages all require an account)."""
    client = app.test_client()
    resp = client.post("/sign-in", data={"username": BENCH_USER, "password": BENCH_PASSWORD})
    if resp.status_code != 303:
        raise RuntimeError(f"sign-in failed: {resp.status_code}")
    return client


def bench_pages(app, counter: QueryCounter, results: Results, seeded: dict) -> None:
    client = signed_in_client(app)
    unique = seeded["rows"][len(seeded["rows"]) // 2]["name"].rsplit(" ", 1)[1]  # the 5-digit serial
    htmx = {"HX-Request": "true"}

    def get(url, headers=None):
        def call():
            resp = client.get(url, headers=headers or {})
            if resp.status_code != 200:
                raise RuntimeError(f"GET {url} -> {resp.status_code}")
            return resp
        return call

    def describe(url, headers=None) -> str | None:
        resp = client.get(url, headers=headers or {})
        if resp.status_code != 200:
            return None
        body = resp.get_data(as_text=True)
        rows = body.count("<tr data-connector-id=") + body.count('<tr id="event-')
        total = "0 match" if "No connectors match" in body else None
        if total is None:
            m = re.search(r"(\d+) (?:connectors?</span>|runs?, newest first)", body)
            total = f"{m.group(1)} match" if m else "?"
        return f"{total}, {rows} rows, {len(body) / 1024:.0f} KB"

    page200 = nth_page_url(client, "/connectors", 200)
    scenarios = [
        ("list", "GET /connectors (full page, by name)", "/connectors", None),
        ("page200", "GET /connectors page 200 (full page)", page200, None),
        ("sort_type", "GET /connectors?sort=type (full page)", "/connectors?sort=type", None),
        ("q_rare", "HX q=log 0199 (a rare match)", "/connectors?q=log+0199", htmx),
        ("q_unique", f"HX q={unique} (one name)", f"/connectors?q={unique}", htmx),
        ("q_team", "HX q=payments (a common match)", "/connectors?q=payments", htmx),
        ("q_type", "HX q=webhook (a type name)", "/connectors?q=webhook", htmx),
        ("q_none", "HX q=no-such-thing (nothing)", "/connectors?q=no-such-thing", htmx),
        ("q_short", "HX q=e (nearly all)", "/connectors?q=e", htmx),
        ("events", "GET /events (full page)", "/events", None),
        ("events100", "GET /events page 100 (full page)", nth_page_url(client, "/events", 100), None),
    ]
    for key, label, url, headers in scenarios:
        if url is None:
            results.failed(label, "FAILED: no such page reached through Next links")
            continue
        note = describe(url, headers)
        if note is None:  # report the failure and go on: one broken page should not hide the rest
            status = client.get(url, headers=headers or {}).status_code
            results.failed(label, f"FAILED: HTTP {status}, not timed")
            continue
        times, queries = measure(get(url, headers), counter)
        results.add(key, label, times, queries, note)


_NEXT = re.compile(r'<a href="([^"]+)" rel="next"')


def nth_page_url(client, url: str, n: int) -> str | None:
    """The URL of page n, reached as a person does: following Next from page 1 (n - 1 times at most)."""
    for _ in range(n - 1):
        m = _NEXT.search(client.get(url).get_data(as_text=True))
        if m is None:
            return None
        url = m.group(1).replace("&amp;", "&")
    return url


def bench_webhook(app, counter: QueryCounter, results: Results) -> None:
    body = '{"text":"x"}'
    with Receiver() as receiver:
        url = receiver.reply("/hook")
        with app.app_context():
            connector = store.create(".webhook", "Bench webhook", {"url": url, "method": "post", "hasAuth": False}, {})
            connector_id = connector.id

        # 1. direct requests.Session POSTs: the floor (HTTP over loopback + the receiver's own work).
        session = requests.Session()
        session.trust_env = False

        def direct():
            resp = session.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=10)
            resp.content  # noqa: B018
            if resp.status_code != 200:
                raise RuntimeError(f"receiver answered {resp.status_code}")

        times, _ = measure(direct, counter)
        results.add("direct", "requests.Session().post (direct)", times, "0", "floor: loopback HTTP + receiver")
        session.close()

        # 2. executions.execute: decrypt secrets, outbound client, trace, event row.
        with app.app_context():
            connector = store.get(connector_id)

            def run():
                run = executions.execute(executions.target_for(connector), {"body": body},
                                             source="bench", actor="bench")
                if not run.result.is_ok:
                    raise RuntimeError(f"execution failed: {run.result.message} {run.result.service_message}")

            times, queries = measure(run, counter)
            results.add("executor", "executions.execute(target_for(c))", times, queries,
                        "decrypt + outbound + trace + event INSERT")

        # 3. the web path: POST /connectors/<id>/test as the test pane sends it (HTMX).
        client = signed_in_client(app)
        form = {"params.__present": "1", "params.body": body}

        def web():
            resp = client.post(f"/connectors/{connector_id}/test", data=form, headers={"HX-Request": "true"})
            if resp.status_code != 200:
                raise RuntimeError(f"POST /test -> {resp.status_code}")

        times, queries = measure(web, counter)
        results.add("web", "POST /connectors/<id>/test (HX)", times, queries, "+ routing, form, recent events, render")
        sent = len(receiver.received)
    print(f"receiver got {sent} requests")


def main() -> int:
    if N < 1 or WARMUP < 0:
        raise SystemExit("BENCH_N must be >= 1 and BENCH_WARMUP >= 0")
    total_started = time.perf_counter()
    rng = random.Random(SEED)
    tmp = Path(tempfile.mkdtemp(prefix="switchboard-bench-"))
    app = None
    key, secret_key = Fernet.generate_key().decode(), "bench-" + uuid.uuid4().hex
    deadline = f"run_timeout = {served.RUN_TIMEOUT}\n" if "run_timeout" in OutboundSettings.model_fields else ""
    (tmp / "switchboard.toml").write_text(
        f'[outbound]\nallowed_hosts = ["127.0.0.1"]\nconnect_timeout = 5\nread_timeout = 10\n{deadline}')
    try:
        app = create_app({
            "TESTING": True,
            "INSTANCE_PATH": str(tmp),
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp / 'switchboard.db'}",
            "SWITCHBOARD_ENCRYPTION_KEYS": [key],
            "SWITCHBOARD_SECRET_KEY": secret_key,
            "SWITCHBOARD": FileConfig(outbound=OutboundSettings(allowed_hosts=("127.0.0.1",),
                                                                connect_timeout=5, read_timeout=10)),
            "WTF_CSRF_ENABLED": False,
        })
        logging.disable(logging.INFO)  # alembic's env.py turns its INFO chatter back on
        try:
            with app.app_context():
                upgrade(directory=app.extensions["migrate"].directory)
                accounts.create_user(BENCH_USER, BENCH_PASSWORD, "admin")
                counter = QueryCounter(db.engine)
        finally:
            logging.disable(logging.NOTSET)
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the receiver's access log
        print(f"Switchboard bench: python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
              f"N={N} after {WARMUP} warm-up, SQLite at {tmp}")
        seeded = seed(app, rng)
        results = Results()
        bench_pages(app, counter, results, seeded)
        bench_webhook(app, counter, results)
        live_rows: list = []
        served.run(app, tmp, key, secret_key, (BENCH_USER, BENCH_PASSWORD), CONNECTORS, WARMUP, live_rows)
        results.print()
        print(f"\nThrough gunicorn (gunicorn.conf.py, as `make run`), {served.CLIENTS} clients for throughput, "
              f"N={served.LIVE_N}; load average {os.getloadavg()[0]:.2f}")
        m, p95 = results.medians, results.p95s
        for key, label in (("list", f"list page 1 at {CONNECTORS:,}, p50 / p95"),
                           ("page200", f"list page 200 at {CONNECTORS:,}, p50 / p95"),
                           ("q_rare", "search fragment, rare match, p50 / p95"),
                           ("q_team", "search fragment, common match, p50 / p95")):
            if key in m:
                live_rows.append((label, f"{m[key]:.2f} / {p95[key]:.2f} ms", "in process; target <= 8 ms p50"))
        w = max(len(r[0]) for r in live_rows)
        for label, value, note in live_rows:
            print(f"{label:<{w}}  {value:>18}  {note}")
        m = results.medians
        print(f"\nexecutor / direct = {m['executor'] / m['direct']:.2f}x   "
              f"web / direct = {m['web'] / m['direct']:.2f}x   "
              f"(overhead over direct: executor +{m['executor'] - m['direct']:.2f} ms, "
              f"web +{m['web'] - m['direct']:.2f} ms)")
        print(f"total bench time {time.perf_counter() - total_started:.1f} s")
        return 0
    finally:
        if app is not None:
            with app.app_context():
                db.session.remove()
                db.engine.dispose()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
