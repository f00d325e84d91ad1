"""Kibana saved-object NDJSON export and import of connectors (kibana-connectors-api.md §6).

Secrets never travel: an export carries `secrets: {}` and an imported connector has none, so it is
flagged `is_missing_secrets` when its type needs secrets. Runs inside an app context.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select

from app.db import db
from app.models import Connector
from app.services import outbound_settings
from app.services.connectors import check_name, enabled_refusal
from app.settings import ID_PATTERN
from app.types import SYSTEM_ACTIONS, get_type
from app.types.kit import ConnectorType, InvalidSettings, Schema, describe_errors

# Kibana's defaults: savedObjects.maxImportExportSize and savedObjects.maxImportPayloadBytes.
MAX_OBJECTS = 10_000
MAX_BYTES = 26_214_400
ID_MAX = 255  # the column's width
MISSING_SECRETS_PATH = "/connectors?missing=1"


class ImportFileError(ValueError):
    """The file as a whole is unreadable; nothing was imported. `line` is 1-based, None for the whole file."""

    def __init__(self, line: int | None, message: str):
        super().__init__(f"Line {line}: {message}" if line else message)
        self.line = line
        self.message = message


@dataclass
class ImportResult:
    """Kibana's `_import` response; `asdict()` / `to_dict()` gives the JSON body."""

    success: bool = True
    successCount: int = 0
    successResults: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---------------------------------------------------------------- export


def _needs_secrets(ctype: ConnectorType) -> bool:
    try:
        ctype.secrets.model_validate({})
    except ValidationError:
        return True
    return False


def export_missing_secrets(connector: Connector) -> bool:
    """Kibana's transformConnectorsForExport: required secrets, else `config.hasAuth`."""
    ctype = get_type(connector.connector_type_id)
    if ctype is None or _needs_secrets(ctype):
        return True  # an unregistered type cannot say, so the importer is told to check
    return bool((connector.config or {}).get("hasAuth", False))


def _iso(value: datetime | None) -> str:
    value = value or datetime.now(UTC)
    if value.tzinfo is None:  # SQLite hands back naive datetimes; they were stored as UTC
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _dumps(obj: Any) -> str:
    # Kibana writes with json-stable-stringify: keys sorted, no spaces, UTF-8 kept as is.
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def connectors_to_export(ids: list[str] | None = None) -> tuple[list[Connector], list[str]]:
    """The connectors to export, by name or in the order of `ids`, and the ids that match none."""
    if not ids:
        return list(db.session.scalars(select(Connector).order_by(Connector.name, Connector.id))), []
    wanted = list(dict.fromkeys(ids))
    rows = {c.id: c for c in db.session.scalars(select(Connector).where(Connector.id.in_(wanted)))}
    return [rows[i] for i in wanted if i in rows], [i for i in wanted if i not in rows]


def unexportable(connectors: list[Connector]) -> list[Connector]:
    """The connectors `export_ndjson` leaves out: preconfigured ones live in the config file, not the store."""
    return [c for c in connectors if c.is_preconfigured]


def export_ndjson(connectors: list[Connector]) -> str:
    """One saved object per line, then the export-details line; no trailing newline, as Kibana.

    Preconfigured connectors are skipped (Kibana cannot export them either); `unexportable()` lists them.
    """
    lines = []
    for c in connectors:
        if c.is_preconfigured:
            continue
        attributes = {
            "actionTypeId": c.connector_type_id,
            "name": c.name,
            "isMissingSecrets": export_missing_secrets(c),
            "config": c.config or {},
            "secrets": {},
        }
        lines.append(
            _dumps(
                {
                    "attributes": attributes,
                    "id": c.id,
                    "type": "action",
                    "references": [],
                    "managed": False,
                    "coreMigrationVersion": "8.8.0",
                    "typeMigrationVersion": "8.3.0",
                    "created_at": _iso(c.created_at),
                    "updated_at": _iso(c.updated_at),
                }
            )
        )
    details = {
        "excludedObjects": [],
        "excludedObjectsCount": 0,
        "exportedCount": len(lines),
        "missingRefCount": 0,
        "missingReferences": [],
    }
    return "\n".join([*lines, _dumps(details)])


# ---------------------------------------------------------------- import


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_ndjson(data: bytes) -> list[tuple[int, dict[str, Any]]]:
    """(line number, saved object) for every object line. Raises ImportFileError on any bad line."""
    if len(data) > MAX_BYTES:
        raise ImportFileError(None, f"The file is larger than {MAX_BYTES // 1_048_576} MB.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportFileError(data[: exc.start].count(b"\n") + 1, "is not UTF-8 text.") from None
    objects: list[tuple[int, dict[str, Any]]] = []
    seen: dict[tuple[str, str], int] = {}
    for number, raw in enumerate(text.split("\n"), start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw, parse_constant=_reject_constant)
        except (ValueError, RecursionError) as exc:
            raise ImportFileError(number, f"is not valid JSON ({exc}).") from None
        if not isinstance(obj, dict):
            raise ImportFileError(number, "is not a JSON object.")
        if "exportedCount" in obj and "type" not in obj:
            continue  # the export-details line
        problem = _envelope_problem(obj)
        if problem:
            raise ImportFileError(number, f"is not a saved object: {problem}.")
        key = (obj["type"], obj["id"])
        if key in seen:
            # Kibana refuses the whole file too ("Non-unique import objects detected").
            raise ImportFileError(number, f"repeats {obj['type']}:{obj['id']} from line {seen[key]}.")
        seen[key] = number
        objects.append((number, obj))
        if len(objects) > MAX_OBJECTS:
            raise ImportFileError(number, f"Can't import more than {MAX_OBJECTS} objects.")
    return objects


def _envelope_problem(obj: dict[str, Any]) -> str | None:
    for key in ("type", "id"):
        if not isinstance(obj.get(key), str) or not obj[key]:
            return f'"{key}" must be a non-empty string'
    if not isinstance(obj.get("attributes"), dict):
        return '"attributes" must be an object'
    if not isinstance(obj.get("references", []), list):
        return '"references" must be a list'
    return None


def _clean_config(model: type[Schema], config: dict[str, Any]) -> dict[str, Any]:
    # Kibana stores unset optional fields as null (newer versions add fields we lack); null means unset.
    return {k: v for k, v in config.items() if v is not None or k in model.model_fields}


def _error(obj: dict[str, Any], title: str | None, kind: str, message: str | None = None, status: int = 400) -> dict:
    meta = {"title": title, "icon": "connector"} if obj["type"] == "action" else ({"title": title} if title else {})
    entry: dict[str, Any] = {"id": obj["id"], "type": obj["type"], "meta": meta, "error": {"type": kind}}
    if title:
        entry["title"] = title
    if message is not None:
        entry["error"].update(message=message, statusCode=status)
    return entry


def _lacks_secrets(ctype: ConnectorType, config: dict[str, Any]) -> bool:
    """Whether this config needs secrets an import cannot bring: the type's own check, with no secrets, fails on them.

    (A webhook with `hasAuth: true` needs a user or token; Bedrock needs keys; an open webhook needs none.)
    """
    try:
        ctype.validate_connector(config, {})
    except InvalidSettings as exc:
        return any(key == "secrets" or key.startswith("secrets.") for key in exc.errors)
    return False


def _checked(obj: dict[str, Any], *, new_id: bool = False) -> tuple[ConnectorType, str, dict[str, Any]] | str:
    """(type, name, config) for a valid connector object, else the message that says why not.

    The id is checked as the API checks it (`ID_PATTERN`) unless the import gives every object a new id.
    """
    attrs = obj["attributes"]
    type_id = attrs.get("actionTypeId")
    ctype = get_type(type_id) if isinstance(type_id, str) else None
    if ctype is None:
        return f'Action type "{type_id}" is not registered.'
    if (refusal := enabled_refusal(ctype.id)) is not None:
        return refusal
    if not new_id and not ID_PATTERN.fullmatch(obj["id"]):
        return f"[id]: use 1-{ID_MAX} letters, digits, '.', '_' or '-', starting with a letter or digit"
    if not new_id and obj["id"] in SYSTEM_ACTIONS:
        return f'[id]: "{obj["id"]}" is the id of a system action and cannot be given to a connector'
    if (msg := check_name(attrs.get("name"))) is not None:
        return msg
    config = attrs.get("config") or {}
    if not isinstance(config, dict):
        return "error validating action type config: config must be an object"
    config = _clean_config(ctype.config, config)
    try:
        ctype.config.model_validate(config)
    except ValidationError as exc:
        return f"error validating action type config: {describe_errors(exc)}"
    # Cross-field and allowed-hosts checks, config side only: an import carries no secrets to check.
    try:
        model, _ = ctype.validate_connector(config, None, allowed_hosts=outbound_settings().allowed_hosts)
    except InvalidSettings as exc:
        return "; ".join(f"[{k.removeprefix('config.')}]: {v}" for k, v in exc.errors.items())
    return ctype, attrs["name"].strip(), model.model_dump(mode="json", exclude_none=True)


def import_ndjson(data: bytes, *, overwrite: bool = False, create_new_copies: bool = False) -> ImportResult:
    """Import a Kibana connector export. Raises ValueError for both flags, ImportFileError for a bad file.

    Each bad object becomes an error entry; every good one is written in one commit at the end.
    """
    if overwrite and create_new_copies:
        raise ValueError("overwrite and createNewCopies cannot be used together.")
    objects = parse_ndjson(data)
    wanted = [o["id"] for _, o in objects if o["type"] == "action"]
    existing = {} if create_new_copies or not wanted else {
        c.id: c for c in db.session.scalars(select(Connector).where(Connector.id.in_(wanted)))
    }
    result = ImportResult()
    staged: list[Connector] = []
    try:
        for _, obj in objects:
            attrs = obj["attributes"]
            title = attrs.get("name") if isinstance(attrs.get("name"), str) else None
            if obj["type"] != "action":
                title = title or (attrs.get("title") if isinstance(attrs.get("title"), str) else None)
                result.errors.append(_error(obj, title, "unsupported_type"))
                continue
            checked = _checked(obj, new_id=create_new_copies)
            if isinstance(checked, str):
                result.errors.append(_error(obj, title, "unknown", checked))
                continue
            ctype, name, config = checked
            current = existing.get(obj["id"])
            if current is not None and current.is_preconfigured:
                message = f'Connector "{obj["id"]}" is preconfigured and cannot be replaced by an import.'
                result.errors.append(_error(obj, name, "unknown", message, 409))
                continue
            if current is not None and not overwrite:
                result.errors.append(_error(obj, name, "conflict"))
                continue
            target = current or Connector(id=str(uuid.uuid4()) if create_new_copies else obj["id"])
            target.name, target.connector_type_id, target.config = name, ctype.id, config
            target.secrets_encrypted, target.secret_fields = None, {}
            # Secrets the type needs for this config are missing whatever the file says: it cannot run without them.
            target.is_missing_secrets = attrs.get("isMissingSecrets") is True or _lacks_secrets(ctype, config)
            staged.append(target)
            entry: dict[str, Any] = {"type": "action", "id": obj["id"], "meta": {"title": name, "icon": "connector"}}
            if create_new_copies:
                entry["destinationId"] = target.id
            if current is not None:
                entry["overwrite"] = True
            result.successResults.append(entry)
        db.session.add_all(staged)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    result.successCount = len(result.successResults)
    result.success = not result.errors
    missing = sum(1 for c in staged if c.is_missing_secrets)
    if missing:
        result.warnings.append(missing_secrets_warning(missing))
    return result


def missing_secrets_warning(count: int) -> dict[str, str]:
    noun = "1 connector has" if count == 1 else f"{count} connectors have"
    return {
        "type": "action_required",
        "message": f"{noun} sensitive information that require updates.",
        "actionPath": MISSING_SECRETS_PATH,
        "buttonLabel": "Go to connectors",
    }
