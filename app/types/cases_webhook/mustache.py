"""How Webhook - Case Management fills its templates and reads the answers, as Kibana does.

Templates are rendered with Mustache and no HTML escaping (Kibana's renderMustacheStringNoEscape), so
`{{x}}` and `{{{x}}}` are the same. A value bound for a JSON body is JSON-encoded first (a title with
quotes stays valid JSON: templates write `{{{case.title}}}` without quotes); a value bound for a URL is
URL-encoded as JavaScript's encodeURIComponent does. Answers are read with dotted paths (lodash `get`)
and the value found is turned into text as JavaScript's template strings do.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote


@dataclass(frozen=True)
class Variable:
    name: str
    description: str  # Kibana's words in its variable picker

    @property
    def tag(self) -> str:
        return "{{{" + self.name + "}}}"


CASE_VARIABLES = (
    Variable("case.title", "Kibana case title"),
    Variable("case.description", "Kibana case description"),
    Variable("case.tags", "Kibana case tags"),
    Variable("case.id", "Kibana case ID"),
    Variable("case.status", "Kibana case status"),
    Variable("case.severity", "Kibana case severity"),
)
COMMENT_VARIABLES = (Variable("case.comment", "Kibana case comment"),)
URL_VARIABLES = (Variable("external.system.id", "External system ID"),)
VIEW_URL_VARIABLES = (*URL_VARIABLES, Variable("external.system.title", "External system title"))

# Which variables each template field offers (Kibana's pickers: create.tsx, get.tsx, update.tsx).
FIELD_VARIABLES: dict[str, tuple[Variable, ...]] = {
    "createIncidentJson": CASE_VARIABLES,
    "getIncidentUrl": URL_VARIABLES,
    "getIncidentJson": URL_VARIABLES,
    "viewIncidentUrl": VIEW_URL_VARIABLES,
    "updateIncidentUrl": URL_VARIABLES,
    "updateIncidentJson": (*CASE_VARIABLES, *URL_VARIABLES),
    "createCommentUrl": URL_VARIABLES,
    "createCommentJson": (*COMMENT_VARIABLES, *URL_VARIABLES),
}


@functools.cache
def _renderer():
    import pystache  # on first use: only cases webhook runs render templates

    # No partials: pystache would otherwise read `{{> name}}` from `name.mustache` files on this machine.
    return pystache.Renderer(escape=lambda text: text, missing_tags="ignore", partials={})


def render(template: str, variables: dict[str, Any]) -> str:
    """The template filled in; a template Mustache cannot read renders as Kibana's error text, which the
    JSON or URL check after it then refuses."""
    try:
        return _renderer().render(template, variables)
    except Exception as exc:  # pystache raises several kinds for a malformed template
        return f'error rendering mustache template "{template}": {exc}'


def js_json(value: Any) -> str:
    """JSON.stringify: compact, non-ASCII kept as is."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def url_component(value: str) -> str:
    """encodeURIComponent."""
    return quote(value, safe="-_.!~*'()")


def case_variables(incident: dict[str, Any]) -> dict[str, Any]:
    """`case.*` for a JSON body, each value JSON-encoded (Kibana's stringifyObjValues)."""
    values = {
        "description": incident.get("description") or "",
        "id": incident.get("id") or "",
        "severity": incident.get("severity") or "",
        "status": incident.get("status") or "",
        "tags": incident.get("tags") or [],
        "title": incident.get("title"),
    }
    return {"case": {key: js_json(value) for key, value in values.items()}}


def empty_variables() -> dict[str, Any]:
    """Every variable with an empty value, as a JSON body gets them: what a template is checked with on save."""
    case = {v.name.split(".", 1)[1]: '""' for v in (*CASE_VARIABLES, *COMMENT_VARIABLES)}
    case["tags"] = "[]"
    return {"case": case, "external": {"system": {"id": '""', "title": '""'}}}


def missing_tags(template: str | None, variables: tuple[Variable, ...]) -> list[str]:
    """The tags of `variables` the template does not contain (Kibana's form checks with `includes`)."""
    return [v.tag for v in variables if v.tag not in (template or "")]


# ---------------------------------------------------------------- reading answers (lodash `get`)

UNDEFINED = object()
_PATH_PART = re.compile(r"""[^.[\]]+|\[(?:(-?\d+(?:\.\d+)?)|(["'])((?:(?!\2)[^\\]|\\.)*?)\2)\]""")


def _path(key: str) -> list[str]:
    parts = []
    for match in _PATH_PART.finditer(key):
        number, _, quoted = match.group(1), match.group(2), match.group(3)
        parts.append(number if number is not None else quoted if quoted is not None else match.group(0))
    return parts


def _child(value: Any, part: str) -> Any:
    if isinstance(value, dict):
        return value.get(part, UNDEFINED)
    if isinstance(value, list) and part.isdigit():
        index = int(part)
        return value[index] if index < len(value) else UNDEFINED
    return UNDEFINED


def object_value(data: Any, key: str) -> Any:
    """lodash `get(data, key)`: a key the object holds as is wins over reading it as a path."""
    if isinstance(data, dict) and key in data:
        return data[key]
    value = data
    for part in _path(key):
        value = _child(value, part)
        if value is UNDEFINED:
            return UNDEFINED
    return value


def js_string(value: Any) -> str:
    """`${value}` in JavaScript."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, list):
        return ",".join("" if item is None else js_string(item) for item in value)
    if isinstance(value, dict):
        return "[object Object]"
    return str(value)


def object_value_as_string(data: Any, key: str) -> str | None:
    """Kibana's getObjectValueByKeyAsString: None when the path leads nowhere (null is "null")."""
    value = object_value(data, key)
    return None if value is UNDEFINED else js_string(value)


def is_empty(data: Any) -> bool:
    """lodash `isEmpty` for a parsed answer: no body, an empty object or list, or a scalar."""
    if isinstance(data, dict | list | str):
        return len(data) == 0
    return True
