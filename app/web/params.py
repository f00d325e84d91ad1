"""The test pane's params form: the type's params fields, or the chosen sub-action's."""

from __future__ import annotations

from dataclasses import dataclass, field

from werkzeug.datastructures import MultiDict

from app.types.fields import FormField, form_fields
from app.types.kit import ConnectorType
from app.web.forms import Section, read_section, section_from_data


@dataclass
class ParamsForm:
    ctype: ConnectorType
    sub_action: str | None
    fields: list[FormField]
    section: Section
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def prefix(self) -> str:
        return "params.sub" if self.sub_action else "params"

    @property
    def streams(self) -> bool:
        return bool(self.sub_action and self.ctype.sub_actions[self.sub_action].streams)

    @classmethod
    def defaults(cls, ctype: ConnectorType, sub_action: str | None = None) -> ParamsForm:
        test = ctype.test_params
        if not ctype.sub_actions:
            fields = form_fields(ctype.params)
            return cls(ctype, None, fields, section_from_data(fields, test))
        chosen = sub_action if sub_action in ctype.sub_actions else test.get("subAction") or next(iter(ctype.sub_actions))
        spec = ctype.sub_actions[chosen]
        data = test.get("subActionParams") if chosen == test.get("subAction") else spec.example
        fields = form_fields(spec.params)
        return cls(ctype, chosen, fields, section_from_data(fields, data))

    @classmethod
    def from_request(cls, ctype: ConnectorType, form: MultiDict, errors: dict | None = None) -> ParamsForm:
        chosen = form.get("params.subAction")
        base = cls.defaults(ctype, chosen)
        if "params.__present" not in form:
            return base  # the form carried no params (e.g. a save): show the defaults
        base.section = read_section(base.fields, form, base.prefix)
        base.errors = errors or {}
        return base


def read_params(ctype: ConnectorType, form: MultiDict) -> tuple[dict, dict[str, str]]:
    """The params the test pane posted, in Kibana's shape, and errors by field key."""
    requested = form.get("params.subAction")
    pf = ParamsForm.defaults(ctype, requested)
    section = read_section(pf.fields, form, pf.prefix)
    if ctype.sub_actions and requested not in ctype.sub_actions:
        section.errors["subAction"] = f'Unknown sub-action "{requested}".'
    if pf.sub_action is None:
        return section.data, section.errors
    return {"subAction": pf.sub_action, "subActionParams": section.data}, section.errors
