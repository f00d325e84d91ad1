"""The bench's scenarios through gunicorn: issue #11's table (floor ratio, throughput, worker memory,
the API's list) and issue #7 item 5's slow runs, measured from outside over real sockets."""

from __future__ import annotations

import http.client
import os
import re
import statistics
import time
from pathlib import Path

import requests
from sqlalchemy import func, select

from app.db import db
from app.models import Connector
from app.services import accounts
from app.services import connectors as store
from bench import live


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, -(-len(ordered) * p // 100) - 1)]


LIVE_N = int(os.environ.get("BENCH_LIVE_N", "300"))
LIVE_SECONDS = float(os.environ.get("BENCH_LIVE_SECONDS", "4"))
CLIENTS = 16
SLOW_RUNS = 20
SLOW_SECONDS = 8.0  # how long the slow receiver takes to answer; the run deadline in the bench is shorter
RUN_TIMEOUT = 5.0


def _cookies(resp: http.client.HTTPResponse) -> str:
    return "; ".join(c.split(";", 1)[0] for c in resp.headers.get_all("Set-Cookie") or [])


def _signed_in_cookie(port: int, account: tuple[str, str]) -> str:
    """Sign in through the real form (CSRF and all) and return the Cookie header of the signed-in session."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/sign-in")
    resp = conn.getresponse()
    page = resp.read().decode()
    cookie = _cookies(resp)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    form = f"csrf_token={token}&username={account[0]}&password={account[1]}".encode()
    conn.request("POST", "/sign-in", body=form, headers={"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"})
    resp = conn.getresponse()
    resp.read()
    conn.close()
    if resp.status != 303:
        raise RuntimeError(f"sign-in through gunicorn failed: {resp.status}")
    return _cookies(resp) or cookie


def run(app, tmp: Path, key: str, secret_key: str, account: tuple[str, str], connectors: int, warmup: int,
        live_rows: list) -> None:
    """The app under gunicorn, measured from outside: the issue's table, then slow runs. Rows of
    (label, value, note) are appended to `live_rows`."""
    WARMUP, CONNECTORS = warmup, connectors  # noqa: N806 - the names the figures are known by
    def add(label, value, note=""):
        live_rows.append((label, value, note))

    with live.ReceiverProcess(SLOW_SECONDS) as receiver:
        with app.app_context():
            fast = store.create(".webhook", "Bench live webhook", {"url": receiver.url + "/hook", "method": "post", "hasAuth": False}, {})
            slow = store.create(".webhook", "Bench slow webhook", {"url": receiver.url + "/slow", "method": "post", "hasAuth": False}, {})
            api_key = accounts.create_api_key("bench", "admin", None).encoded
            fast_id, slow_id = fast.id, slow.id
        port = free_port()
        with live.Gunicorn(live.server_env(tmp, key, secret_key), port, tmp / "gunicorn.log") as server:
            healthz = live.Call("GET", "/healthz")
            run = live.execute_call(fast_id, api_key, {"body": '{"text":"x"}'})
            t_health = live.latencies(port, healthz, LIVE_N, WARMUP)
            t_direct = direct_latencies(receiver.url + "/hook", LIVE_N, WARMUP)
            t_run = live.latencies(port, run, LIVE_N, WARMUP)
            floor = statistics.median(t_health) + statistics.median(t_direct)
            p50 = statistics.median(t_run)
            add("GET /healthz round trip, p50 / p95", f"{statistics.median(t_health):.2f} / {pct(t_health, 95):.2f} ms")
            add("receiver direct POST, p50", f"{statistics.median(t_direct):.2f} ms", "requests.Session, as the issue's floor")
            add("_execute round trip, p50 / p95", f"{p50:.2f} / {pct(t_run, 95):.2f} ms")
            add("_execute floor ratio", f"{p50 / floor:.2f}x", f"floor = healthz + direct = {floor:.2f} ms; target <= 1.3x")

            h_rate, h_other = live.throughput(port, healthz, CLIENTS, LIVE_SECONDS)
            r_rate, r_other = live.throughput(port, run, CLIENTS, LIVE_SECONDS)
            add(f"/healthz throughput, {CLIENTS} clients", f"{h_rate:,.0f}/s", f"{h_other} other answers")
            add(f"_execute throughput, {CLIENTS} clients", f"{r_rate:,.0f}/s", f"{r_other} other answers")
            add("_execute throughput / trivial", f"{100 * r_rate / h_rate:.0f}%", "target >= 60%")
            for i, pid in enumerate(server.worker_pids()):
                rss, pss = live.memory_mb(pid)
                add(f"worker {i + 1} memory after the runs", f"{rss:.0f} MB RSS", f"PSS {pss:.0f} MB; target RSS <= 70 MB")

            # Issue #7 item 5: slow runs in flight must not starve pages.
            cookie = _signed_in_cookie(port, account)
            page = live.Call("GET", "/connectors", headers={"Cookie": cookie})
            slow_run = live.execute_call(slow_id, api_key, {"body": '{"text":"slow"}'})
            started = time.perf_counter()
            with live.InFlight(port, slow_run, SLOW_RUNS) as flight:
                time.sleep(0.5)  # let them reach the receiver
                t_h = live.latencies(port, healthz, 40, 0)
                t_p = live.latencies(port, page, 20, 0)
                flight.wait(SLOW_SECONDS + 30)
            waited = time.perf_counter() - started
            counts = {s: flight.statuses.count(s) for s in sorted(set(flight.statuses))}
            add(f"/healthz with {SLOW_RUNS} slow runs in flight, p50 / max", f"{statistics.median(t_h):.2f} / {max(t_h):.2f} ms")
            add(f"list page with {SLOW_RUNS} slow runs in flight, p50 / max", f"{statistics.median(t_p):.2f} / {max(t_p):.2f} ms")
            add("the slow runs' answers", ", ".join(f"{n} x {s}" for s, n in counts.items()),
                f"all done in {waited:.1f} s; receiver answers after {SLOW_SECONDS:g} s")

            # The API's list, at 10,000 and then at 2,000 connectors.
            listing = live.Call("GET", "/api/actions/connectors", headers=live.api_headers(api_key))
            for size in sorted({CONNECTORS, min(2000, CONNECTORS)}, reverse=True):
                with app.app_context():
                    keep = {fast_id, slow_id}
                    ids = [c for c in db.session.scalars(select(Connector.id)) if c not in keep]
                    if len(ids) + 2 > size:
                        store.delete_many(ids[: len(ids) + 2 - size])
                    count = db.session.scalar(select(func.count()).select_from(Connector))
                t_list = live.latencies(port, listing, max(10, LIVE_N // 10), 3)
                p = statistics.median(t_list)
                add(f"GET /api/actions/connectors at {count:,}, p50", f"{p:.1f} ms", f"{1000 * p / count:.1f} us a connector; target <= 5")


def direct_latencies(url: str, n: int, warmup: int) -> list[float]:
    """The direct call of the floor: a requests.Session POST to the receiver, keeping its connection."""
    session = requests.Session()
    session.trust_env = False
    times = []
    for i in range(warmup + n):
        started = time.perf_counter()
        resp = session.post(url, data='{"text":"x"}', headers={"Content-Type": "application/json"}, timeout=10)
        resp.content  # noqa: B018
        if i >= warmup:
            times.append((time.perf_counter() - started) * 1000)
    session.close()
    return times


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
