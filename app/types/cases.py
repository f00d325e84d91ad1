"""The `.cases` system action (Kibana's Cases connector): group a rule's alerts into cases.

A system action is not a connector anyone creates: it runs on one fixed id (`system-connector-.cases`),
is never listed or exported, and works on Switchboard's own case store, which the execution path lends
it as a `CaseStore` (this module knows nothing of the database). The algorithm is Kibana's
(`cases/server/connectors/cases/cases_connector_executor.ts`):

1. alerts are grouped by the value of the one `groupingBy` field (alerts without it share an
   "unknown" group); more groups than `maximumCasesToOpen` fall back to one group of everything;
2. each group has an oracle record keyed by rule, owner and grouping, whose counter names its case;
3. when the record was last touched longer ago than `timeWindow`, the counter goes up: a new case;
4. the case with that id is read, or created with Kibana's title, description and tags;
5. a closed case is reopened (`reopenClosedCases`) or replaced by a new one (counter up again);
6. the alerts (and the group's comments) are attached, unless the case would pass 1,000 alerts.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from pydantic import field_validator

from app.types.kit import ConnectorType, Context, Field, Result, Schema, sub_action

SYSTEM_CONNECTOR_ID = "system-connector-.cases"
SPACE_ID = "default"
MAX_OPEN_CASES = 20
DEFAULT_MAX_OPEN_CASES = 5
MAX_ALERTS_PER_CASE = 1000
MAX_TITLE_LENGTH = 160
MAX_RULE_NAME_LENGTH = 100
MAX_SUFFIX_LENGTH = 60
MAX_TAGS_PER_CASE = 200
MAX_LENGTH_PER_TAG = 256
INITIAL_COUNTER = 1
ATTEMPTS = 3  # Kibana retries a run that lost a race for the same records
TIME_WINDOW = re.compile(r"^[1-9][0-9]*[d,w,h,m]$")  # Kibana's regex, stray comma and all
UNITS = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}
# Beyond this no date can be reached (Kibana's dateMath gives an invalid date): a refusal, not an overflow.
LONGEST_WINDOW = timedelta(days=365 * 1000)


def time_window(value: str) -> timedelta:
    """`7d`, `2w`, `12h`, `30m` as a span; raises ValueError with Kibana's texts."""
    if not TIME_WINDOW.match(value) or value[-1] not in UNITS or len(value) > 12:
        raise ValueError("Not a valid time window")
    size = int(value[:-1])
    if value[-1] == "m" and size < 5:
        raise ValueError("Time window should be at least 5 minutes")
    if size > LONGEST_WINDOW // UNITS[value[-1]]:
        raise ValueError("Not a valid time window")
    return UNITS[value[-1]] * size


class Rule(Schema):
    id: str = Field(label="Rule id")
    name: str = Field(label="Rule name")
    tags: list[str] = Field(default_factory=list, label="Rule tags")
    ruleUrl: str | None = Field(None, label="Rule URL")


class GroupedAlerts(Schema):
    alerts: list[dict[str, Any]] = Field(label="Alerts")
    comments: list[str] | None = Field(None, label="Comments")
    grouping: dict[str, Any] = Field(label="Grouping")
    title: str | None = Field(None, label="Title")


def _check_alerts(alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for alert in alerts:
        if "_id" not in alert or "_index" not in alert:
            raise ValueError("Alert ID and index must be defined")
    return alerts


class RunParams(Schema):
    alerts: list[dict[str, Any]] = Field(label="Alerts", help="Each needs `_id` and `_index`.", widget="json")
    groupedAlerts: list[GroupedAlerts] | None = Field(None, label="Grouped alerts", max_length=MAX_OPEN_CASES,
                                                      widget="json")
    groupingBy: list[str] = Field(label="Group by", help="At most one alert field.", max_length=1, widget="json")
    owner: str = Field(label="Owner", help="cases, securitySolution or observability.")
    rule: Rule = Field(label="Rule", widget="json")
    timeWindow: str = Field("7d", label="Time window", help="e.g. 7d, 2w, 12h, 30m (at least 5m).")
    reopenClosedCases: bool = Field(False, label="Reopen closed cases")
    maximumCasesToOpen: int = Field(DEFAULT_MAX_OPEN_CASES, ge=1, le=MAX_OPEN_CASES, label="Maximum cases to open")
    templateId: str | None = Field(None, label="Template id", help="Accepted; Switchboard has no case templates.")
    internallyManagedAlerts: bool | None = Field(None, label="Internally managed alerts")

    _alerts = field_validator("alerts")(_check_alerts)

    @field_validator("groupedAlerts")
    @classmethod
    def _grouped(cls, groups: list[GroupedAlerts] | None) -> list[GroupedAlerts] | None:
        for group in groups or ():
            _check_alerts(group.alerts)
        return groups

    @field_validator("timeWindow")
    @classmethod
    def _window(cls, value: str) -> str:
        time_window(value)
        return value


# ---- the store the execution path lends ---------------------------------------------------------------


@dataclass
class OracleRecord:
    id: str
    counter: int
    created_at: datetime
    updated_at: datetime | None


@dataclass
class CaseState:
    id: str
    title: str
    status: str
    total_alerts: int


class Conflict(Exception):
    """Another run changed the same record first; the whole run is tried again."""


class CaseStore(Protocol):
    def now(self) -> datetime: ...
    def oracle_record(self, record_id: str) -> OracleRecord | None: ...
    def create_oracle_record(self, record_id: str, rule_id: str, owner: str, grouping: dict) -> OracleRecord: ...
    def bump_counter(self, record: OracleRecord) -> OracleRecord: ...
    def case(self, case_id: str) -> CaseState | None: ...
    def create_case(self, case_id: str, *, title: str, description: str, tags: list[str], owner: str,
                    rule: Rule, grouping: dict) -> CaseState: ...
    def reopen(self, case_id: str) -> CaseState: ...
    def attach(self, case_id: str, alerts: list[dict[str, Any]], rule: Rule, comments: list[str]) -> int: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...


@dataclass
class CasesContext(Context):
    cases: CaseStore | None = None


# ---- Kibana's pieces, pure ----------------------------------------------------------------------------


def stable_stringify(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _hash(*parts: Any) -> str:
    return hashlib.sha256(":".join(str(p) for p in parts if p).encode()).hexdigest()


def oracle_key(rule_id: str, owner: str, grouping: dict) -> str:
    return _hash(rule_id, SPACE_ID, owner, stable_stringify(grouping))


def case_id_for(rule_id: str, owner: str, grouping: dict, counter: int) -> str:
    return _hash(rule_id, SPACE_ID, owner, stable_stringify(grouping), counter)


def value_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return stable_stringify(value)


def _field(alert: dict[str, Any], path: str) -> Any:
    """lodash `get`: the key itself when the alert has it (`host.name` flattened), else the dotted path."""
    if path in alert:
        return alert[path]
    value: Any = alert
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def flatten(grouping: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in grouping.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def group_alerts(alerts: list[dict[str, Any]], grouping_by: list[str]) -> list[GroupedAlerts]:
    fields = list(dict.fromkeys(grouping_by))
    groups: dict[str, GroupedAlerts] = {}
    ungrouped = []
    for alert in alerts:
        if not all(_field(alert, f) for f in fields):  # falsy values count as missing, as in Kibana
            ungrouped.append(alert)
            continue
        grouping = {f: _field(alert, f) for f in fields}
        key = stable_stringify(grouping)
        if key in groups:
            groups[key].alerts.append(alert)
        else:
            groups[key] = GroupedAlerts(alerts=[alert], grouping=grouping)
    if ungrouped:
        unknown = {f: "unknown" for f in fields}
        groups[stable_stringify(unknown)] = GroupedAlerts(alerts=ungrouped, grouping=unknown)
    return list(groups.values())


def apply_circuit_breaker(groups: list[GroupedAlerts], maximum: int) -> list[GroupedAlerts]:
    if len(groups) <= maximum:
        return groups
    return [GroupedAlerts(alerts=[a for g in groups for a in g.alerts], grouping={})]


def case_title(rule_name: str, grouping: dict[str, Any], counter: int) -> str:
    dots = 3
    description = " & ".join(value_text(v) for v in flatten(grouping).values())
    counter_text = f" ({counter})" if counter > INITIAL_COUNTER else ""
    start = " - Grouping by " if description else ""
    end = f"{counter_text} (Auto-created)"
    name = rule_name[: MAX_RULE_NAME_LENGTH - dots] if len(rule_name) > MAX_RULE_NAME_LENGTH else rule_name
    name = f"{name}{'.' * dots}" if len(rule_name) > len(name) else name
    max_suffix = MAX_TITLE_LENGTH - len(name) if len(name) < MAX_RULE_NAME_LENGTH else MAX_SUFFIX_LENGTH
    max_description = max_suffix - (len(start) + len(end))
    if len(description) > max_description:
        description = f"{description[: max(max_description - dots, 0)]}{'.' * dots}"
    return f"{name}{start}{description}{end}"


def case_description(rule: Rule, grouping: dict[str, Any]) -> str:
    name = f"['{rule.name}']({rule.ruleUrl})" if rule.ruleUrl else rule.name
    text = f"This case was created by the rule {name}."
    grouped = " and ".join(f"`{k}: {value_text(v)}`" for k, v in flatten(grouping).items())
    return f"{text} The assigned alerts are grouped by {grouped}." if grouped else text


def case_tags(rule: Rule, grouping: dict[str, Any]) -> list[str]:
    grouping_tags = [t for k, v in flatten(grouping).items() for t in (k, f"{k}:{value_text(v)}")]
    tags = ["auto-generated", f"rule:{rule.id}", *grouping_tags, *rule.tags][:MAX_TAGS_PER_CASE]
    return [t[:MAX_LENGTH_PER_TAG] for t in tags]


# ---- the run ----------------------------------------------------------------------------------------


def open_cases(params: RunParams, store: CaseStore) -> list[dict[str, Any]]:
    """Kibana's executor against `store`; what happened to each case, for the run's `data`."""
    groups = params.groupedAlerts if params.groupedAlerts is not None else group_alerts(params.alerts, params.groupingBy)
    groups = apply_circuit_breaker(groups, params.maximumCasesToOpen)
    window = time_window(params.timeWindow)
    now = store.now()
    outcome = []
    for group in groups:
        key = oracle_key(params.rule.id, params.owner, group.grouping)
        record = store.oracle_record(key) or store.create_oracle_record(key, params.rule.id, params.owner, group.grouping)
        if (record.updated_at or record.created_at) < now - window:
            record = store.bump_counter(record)
        state, created, reopened = _case_for(params, group, record, store)
        if state.status == "closed":
            if params.reopenClosedCases:
                state, reopened = store.reopen(state.id), True
            else:
                record = store.bump_counter(record)
                state, created, _ = _case_for(params, group, record, store)
        attached = 0
        if state.total_alerts + len(group.alerts) <= MAX_ALERTS_PER_CASE:
            attached = store.attach(state.id, group.alerts, params.rule, group.comments or [])
        outcome.append({"id": state.id, "title": state.title, "created": created, "reopened": reopened,
                        "alertsAttached": attached, "alertsSkipped": len(group.alerts) - attached})
    return outcome


def _case_for(params: RunParams, group: GroupedAlerts, record: OracleRecord, store: CaseStore
              ) -> tuple[CaseState, bool, bool]:
    case_id = case_id_for(params.rule.id, params.owner, group.grouping, record.counter)
    state = store.case(case_id)
    if state is not None:
        return state, False, False
    state = store.create_case(
        case_id,
        title=group.title or case_title(params.rule.name, group.grouping, record.counter),
        description=case_description(params.rule, group.grouping),
        tags=case_tags(params.rule, group.grouping),
        owner=params.owner, rule=params.rule, grouping=group.grouping,
    )
    return state, True, False


class CasesAction(ConnectorType):
    id = ".cases"
    name = "Cases"
    description = "Open and update cases from a rule's alerts (a system action: it has one fixed connector)."
    minimum_license_required = "platinum"
    supported_feature_ids = ("alerting", "uptime", "siem")
    calls_out = False
    data_label = "Cases"

    def lend(self, ctx: Context, store: CaseStore) -> CasesContext:
        """The run's context with the case store the execution path lends it."""
        return CasesContext(**vars(ctx), cases=store)

    @sub_action("run", RunParams, "Group the alerts into cases.", example={
        "alerts": [{"_id": "alert-1", "_index": ".alerts-default", "host.name": "web-1"}],
        "groupingBy": ["host.name"], "owner": "cases", "rule": {"id": "rule-1", "name": "High CPU"},
    })
    def run_alerts(self, ctx: CasesContext) -> Result:
        store = getattr(ctx, "cases", None)
        if store is None:
            return Result.error(f"The Cases system action runs only as its system connector ({SYSTEM_CONNECTOR_ID}).")
        if not ctx.params.alerts:
            return Result.ok({"cases": []})  # Kibana skips a run without alerts
        for _ in range(ATTEMPTS):
            try:
                outcome = open_cases(ctx.params, store)
                store.commit()  # the cases are saved whatever becomes of the run's event row
                return Result.ok({"cases": outcome})
            except Conflict:
                store.rollback()
            except Exception:
                store.rollback()  # half a run's cases must not be saved with its event
                raise
        return Result.error("Another run changed the same cases at the same time; run again.", retry=True)
