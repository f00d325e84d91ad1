"""The one execution path (DESIGN rule 5): the test pane, the API and background runs all call this.

An execution always ends in a Result and always leaves one event row. Errors are data: nothing an
executor does raises out of here.
"""

from __future__ import annotations

import inspect
import logging
import time
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Row, bindparam, insert
from sqlalchemy.exc import DBAPIError, OperationalError

from app import extensions
from app.crypto import SecretsUnreadable
from app.db import StorageUnavailable, core_commit, core_connection, core_rollback, storage_failure, write_succeeded
from app.models import Connector, Event
from app.outbound import BoundHttp, RunDeadline, Trace
from app.services import elasticsearch, outbound, outbound_settings, preconfigured, tokens
from app.services.connectors import enabled_refusal, mark_missing_secrets, stored_secrets
from app.types import SYSTEM_ACTIONS, get_type
from app.types.kit import GENERIC_ERROR, ConnectorType, InvalidSettings, ParamsError, Result
from app.types.kit.tokens import MemoryTokenStore, TokenStore

log = logging.getLogger(__name__)
_OUTCOME_COLUMNS = ("sub_action", "duration_ms", "status", "message", "http_status", "retry", "request_body_bytes",
                    "prompt_tokens", "completion_tokens", "total_tokens")
_COMPLETE_EVENT = (
    Event.__table__.update().where(Event.__table__.c.id == bindparam("event_id"))
    .values({name: bindparam(name) for name in _OUTCOME_COLUMNS})
)
_INSERT_EVENT = insert(Event)
CANCELLED = "the run was cancelled before it finished"
RUNNING = "running"  # an event's status from before the call until the run's outcome is written
__all__ = ["RUNNING", "Run", "StorageUnavailable", "Target", "execute", "stream", "target_for"]


@dataclass
class Target:
    """What to run: a stored connector, or unsaved form values (then `stored` is None)."""

    id: str
    name: str
    connector_type_id: str
    config: dict[str, Any]
    secrets: dict[str, Any]
    stored: Connector | Row | None = None  # a row when the API runs it (connectors.get_to_run)
    refusal: Result | None = None  # set when the connector cannot run at all; still logged


@dataclass
class Run:
    result: Result
    duration_ms: float
    connector_type_id: str
    exchanges: list[dict] = field(default_factory=list)
    streamed_text: str = ""
    event_id: int | None = None


def target_for(connector: Connector | Row) -> Target:
    """Decrypt a stored connector into a Target; a refusal says why it cannot run."""
    target = Target(connector.id, connector.name, connector.connector_type_id, connector.config, {}, connector)
    if connector.is_missing_secrets:
        target.refusal = Result.error(f'Connector "{connector.name}" is missing secrets; enter them in its edit form.')
        return target
    if connector.is_preconfigured:
        try:
            target.secrets = preconfigured.secrets_for(connector.id)
        except (preconfigured.MissingEnvironment, KeyError) as exc:
            target.refusal = Result.error(f'Preconfigured connector "{connector.name}" cannot run: {exc}.')
        return target
    try:
        target.secrets = stored_secrets(connector)
    except SecretsUnreadable as exc:
        mark_missing_secrets(connector)
        target.refusal = Result.error(f'Connector "{connector.name}" needs its secrets entered again: {exc}.')
    return target


def system_target(connector_id: str) -> Target | None:
    """The fixed connector of a system action (`system-connector-.cases`), or None."""
    ctype = SYSTEM_ACTIONS.get(connector_id)
    return Target(connector_id, ctype.name, ctype.id, {}, {}) if ctype is not None else None


def _secret_values(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _secret_values(v)]
    if isinstance(value, list):
        return [s for v in value for s in _secret_values(v)]
    return []


def stream(target: Target, params: dict, *, source: str, actor: str, lookup: str | None = None
           ) -> Iterator[str | Run]:
    """Run; yield text deltas as a streaming type produces them, then the Run (always last).

    With `lookup`, run the type's lookup of that name (a form's choices from the service) instead.
    The run's event row is written ("running") before anything is sent, so a run that cannot be
    recorded never starts: StorageUnavailable is raised here, before the first item, not mid-stream.
    So is RunsBusy, before the row, when this worker already runs as many as it may (run_slots.py).
    """
    run, release = _begin(target, params, source=source, actor=actor, lookup=lookup)
    weakref.finalize(run, release)  # a run dropped unstarted (its response never read) frees its place too
    return run


def _begin(target: Target, params: dict, *, source: str, actor: str, lookup: str | None):
    """A place among the worker's runs, then the reserved event row: the run, unstarted, and its release."""
    release = extensions.run_slots.get().acquire()
    try:
        event_id = _reserve(target, source=source, actor=actor)
    except BaseException:
        release()
        raise
    return _run(target, params, event_id, source=source, actor=actor, lookup=lookup, release=release), release


def _run(target: Target, params: dict, event_id: int, *, source: str, actor: str, lookup: str | None,
         release) -> Iterator[str | Run]:
    try:
        yield from _steps(target, params, event_id, lookup, actor)
    finally:
        release()


def _steps(target: Target, params: dict, event_id: int, lookup: str | None, actor: str) -> Iterator[str | Run]:
    started = time.perf_counter()
    trace = Trace(_secret_values(target.secrets))
    deltas: list[str] = []
    if target.refusal is not None:
        result = target.refusal
    else:
        try:
            out = _start(target, params, trace, lookup, actor)
            if inspect.isgenerator(out):
                pieces = trace.masker.stream()  # a secret split across two pieces is masked too
                done = False
                while not done:
                    try:
                        delta = pieces.feed(next(out))
                    except StopIteration as stop:
                        result, done = stop.value, True
                        delta = pieces.flush()
                    if not delta:
                        continue
                    deltas.append(delta)
                    try:
                        yield delta
                    except GeneratorExit:  # the person waiting went away (Cancel): stop, and log it
                        out.close()
                        cancelled = Result.error(CANCELLED, "the test pane stopped waiting", retry=False)
                        _record(event_id, cancelled, trace, (time.perf_counter() - started) * 1000)
                        raise
            else:
                result = out
        except Exception as exc:  # errors are data: an executor bug must not break the page
            log.exception("connector %s raised during execution", target.id)
            result = Result.error(GENERIC_ERROR, trace.masker(str(exc)) or type(exc).__name__, retry=True)
        if not isinstance(result, Result):
            result = Result.ok(result)
        if lookup or isinstance(params.get("subAction"), str):
            result.sub_action = lookup or params["subAction"]
    # `cut`: a message shortened to a limit may end in part of a secret (an echoed Authorization header)
    result.message = trace.masker.cut(result.message) if result.message else result.message
    result.service_message = trace.masker.cut(result.service_message) if result.service_message else None
    result.data = trace.masker.deep(result.data)
    duration_ms = (time.perf_counter() - started) * 1000
    run = Run(result, duration_ms, target.connector_type_id, [e.as_dict() for e in trace.exchanges], "".join(deltas))
    run.event_id = _record(event_id, result, trace, duration_ms)
    yield run


def execute(target: Target, params: dict, *, source: str, actor: str, lookup: str | None = None) -> Run:
    """Run to the end; streamed output is collected into the Run."""
    run, _release = _begin(target, params, source=source, actor=actor, lookup=lookup)
    try:  # started here and always closed, so its own `finally` frees the place (no finalizer needed)
        for item in run:
            if isinstance(item, Run):
                return item
    finally:
        run.close()
    raise AssertionError("a run always ends with a Run")


def _start(target: Target, raw_params: dict, trace: Trace, lookup: str | None, actor: str):
    system = SYSTEM_ACTIONS.get(target.id) if target.stored is None else None
    system = system if system is not None and system.id == target.connector_type_id else None
    ctype = system or get_type(target.connector_type_id)
    if ctype is None:
        return Result.error(f'connector type "{target.connector_type_id}" is not registered')
    refusal = enabled_refusal(ctype.id)
    if refusal:
        return Result.error(refusal)
    try:
        cluster = elasticsearch.access(trace) if ctype.uses_elasticsearch else None
    except elasticsearch.MissingEnvironment as exc:
        return Result.error(f"[elasticsearch] cannot be used: {exc}")
    http = BoundHttp(outbound(), trace)
    try:
        ctx = ctype.context(
            target.id, target.name, target.config, target.secrets, raw_params,
            http=http, tokens=_token_store(target), lookup=lookup, elasticsearch=cluster,
        )
    except InvalidSettings as exc:
        return Result.error(f"error validating connector config or secrets: {exc}")
    except ParamsError as exc:
        return Result.error(str(exc))
    http.deadline = run_deadline(ctype, ctx.params)
    if system is not None:  # it works on Switchboard's own cases, lent here: types know no database
        from app.services.cases import SystemCaseStore

        ctx = system.lend(ctx, SystemCaseStore(actor))
    return ctype.run(ctx)


def run_deadline(ctype: ConnectorType, params: Any) -> RunDeadline:
    """The run's overall deadline: the params' own `timeout` (ms; Kibana's LLM connectors take one per
    call), else the type's (Bedrock: 120 s), else [outbound] run_timeout."""
    timeout_ms = getattr(params, "timeout", None)
    if isinstance(timeout_ms, int | float) and not isinstance(timeout_ms, bool) and timeout_ms > 0:
        return RunDeadline(timeout_ms / 1000, "the run's timeout param")
    if ctype.run_timeout:
        return RunDeadline(ctype.run_timeout, f"the {ctype.name} run timeout")
    return RunDeadline(outbound_settings().run_timeout)


def _token_store(target: Target) -> TokenStore:
    # Unsaved form values get a cache of their own that ends with the run.
    return tokens.DatabaseTokenStore(target.id) if target.stored is not None else MemoryTokenStore()


def _reserve(target: Target, *, source: str, actor: str) -> int:
    """The run's event row, committed before the service is called; StorageUnavailable if it cannot be."""
    row = dict(connector_id=target.id, connector_name=target.name, connector_type_id=target.connector_type_id,
               source=source, actor=actor, duration_ms=0.0, status=RUNNING)
    conn = core_connection()
    try:
        # One prepared Core INSERT: no ORM unit of work, and its compiled form is reused run after run.
        event_id = conn.execute(_INSERT_EVENT, row).inserted_primary_key[0]
        core_commit(conn)
        write_succeeded()  # a Core INSERT is no ORM flush, which is how a commit is otherwise seen to have written
    except OperationalError as exc:
        core_rollback(conn)
        raise storage_failure(exc) from exc
    return event_id


def _record(event_id: int, result: Result, trace: Trace, duration_ms: float) -> int:
    """Complete the reserved event with the run's outcome.

    If storage fails now, the service has been called already: the row stays "running" (the log still
    shows that the run started), the failure is logged, and the person still gets the result.
    """
    message = None
    if not result.is_ok:
        message = result.message or ""
        if result.service_message:
            message += f": {result.service_message}"
        message += f"; retry: {_retry_text(result.retry) or 'false'}"
    usage = result.usage if result.is_ok else None
    statuses = [e.status for e in trace.exchanges if e.status is not None]
    values = dict(
        sub_action=result.sub_action, duration_ms=round(duration_ms, 1), status=result.status, message=message,
        http_status=statuses[-1] if statuses else None, retry=_retry_text(result.retry),
        request_body_bytes=trace.request_body_bytes,
        prompt_tokens=usage.prompt_tokens if usage else None,
        completion_tokens=usage.completion_tokens if usage else None,
        total_tokens=usage.total_tokens if usage else None,
    )
    conn = core_connection()
    try:
        # One prepared Core UPDATE, as the INSERT: an ORM update statement cost a third of the run.
        conn.execute(_COMPLETE_EVENT, {**values, "event_id": event_id})
        core_commit(conn)
    except DBAPIError as exc:  # whatever the database says now, the call happened: answer it
        core_rollback(conn)
        log.error("event %s could not be completed: %s", event_id, storage_failure(exc).reason)
    return event_id


def _retry_text(retry: bool | str | None) -> str | None:
    if retry is None:
        return None
    return str(retry).lower() if isinstance(retry, bool) else retry
