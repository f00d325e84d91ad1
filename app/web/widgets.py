"""Form widgets, each declared once: how it reads a posted value, how it shows a stored one, and the
template that draws its input (`templates/widgets/`). A type's views module may register its own.

Field names in HTML are `<section>.<key>` (sections: config, secrets, params, params.sub); a `kv`
widget posts parallel lists `<section>.<key>.name` / `<section>.<key>.value`.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import TYPE_CHECKING, Any

from werkzeug.datastructures import FileStorage, MultiDict

from app.outbound.trace import MASK
from app.types.fields import FormField
from app.web.security import json_too_deep

if TYPE_CHECKING:
    from app.web.forms import Section

KEEP_STORED = "Enter the secret itself, or leave the field blank to keep the stored one."


class Invalid(ValueError):
    """A posted value the widget cannot read; the message is shown at the field."""


class Widget:
    """A one-line text input. Subclasses change how a value is parsed, shown or drawn."""

    template = "widgets/input.html"
    draws_label = False  # the template draws its own label or legend (checkbox, kv)

    def __init__(self, name: str, template: str | None = None):
        self.name = name
        self.template = template or self.template

    def parse(self, raw: str) -> Any:
        return raw

    def display(self, f: FormField, value: Any) -> Any:
        return "" if value is None else str(value)

    def read(self, f: FormField, form: MultiDict, name: str, s: Section) -> None:
        raw = form.get(name, "")
        s.display[f.key] = "" if f.secret else raw
        if raw == "" or (f.secret and raw.strip() == ""):
            return  # absent: the schema's default applies, or a stored secret is kept
        if f.secret and MASK in raw:
            s.errors[f.key] = KEEP_STORED
            return
        try:
            s.data[f.key] = self.parse(raw)
        except Invalid as exc:
            s.errors[f.key] = str(exc)


class TextArea(Widget):
    template = "widgets/textarea.html"


class Number(Widget):
    def parse(self, raw: str) -> Any:
        try:
            return int(raw) if raw.strip().lstrip("-").isdigit() else float(raw)
        except ValueError:
            raise Invalid("Enter a number.") from None


class Json(TextArea):
    """Parsed JSON, shown indented."""

    def parse(self, raw: str) -> Any:
        too_deep = json_too_deep(raw)  # before parsing: json.loads itself recurses once per level
        if too_deep:
            raise Invalid(too_deep)
        try:
            return json.loads(raw)
        except json.JSONDecodeError as exc:
            raise Invalid(f"Invalid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno}).") from None

    def display(self, f: FormField, value: Any) -> Any:
        return "" if value is None else json.dumps(value, indent=2)


class JsonText(Json):
    """Checked as JSON here, but the type wants the text itself."""

    def parse(self, raw: str) -> Any:
        super().parse(raw)
        return raw

    def display(self, f: FormField, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return json.dumps(json.loads(value), indent=2)
            except ValueError:
                return value
        return super().display(f, value)


class Checkbox(Widget):
    template = "widgets/checkbox.html"
    draws_label = True

    def display(self, f: FormField, value: Any) -> Any:
        return bool(value)

    def read(self, f: FormField, form: MultiDict, name: str, s: Section) -> None:
        values = form.getlist(name)  # a hidden "false" comes first, the box's "true" after it when ticked
        s.data[f.key] = s.display[f.key] = bool(values) and values[-1] in ("true", "on", "1")


class KeyValue(Widget):
    """Name/value rows, e.g. headers; a secret's values are never shown back."""

    template = "widgets/kv.html"
    draws_label = True

    def display(self, f: FormField, value: Any) -> Any:
        return list(value.items()) if isinstance(value, dict) else []

    def read(self, f: FormField, form: MultiDict, name: str, s: Section) -> None:
        pairs: dict[str, str] = {}
        shown = []
        names, values = form.getlist(f"{name}.name"), form.getlist(f"{name}.value")
        if len(names) != len(values):  # a row would be dropped without a word: refuse the field instead
            s.errors[f.key] = (f"Every {f.label.lower()} row needs a name and a value field; the form sent "
                               f"{len(names)} name(s) and {len(values)} value(s). Reload the page and try again.")
            s.display[f.key] = [(key, "") for key in names]
            return
        for key, value in zip(names, values, strict=True):
            key = key.strip()
            if not key:
                if value.strip():  # a value with no name would be dropped without a word
                    s.errors[f.key] = f"A {f.label.lower()} row has a value but no name: name it, or clear the value."
                    shown.append(("", "" if f.secret else value))
                continue
            if key.lower() in (k.lower() for k in pairs):
                s.errors[f.key] = f'"{key}" is listed twice.'
            if f.secret and MASK in value:
                s.errors[f.key] = "Enter the secret itself, or leave the value blank to keep the stored one."
            pairs[key] = value
            shown.append((key, "" if f.secret else value))
        s.display[f.key] = shown
        if pairs:
            s.data[f.key] = pairs


# Certificates and keys are a few kilobytes; a PFX with a long chain stays well under this.
MAX_FILE_BYTES = 64 * 1024


class File(Widget):
    """A file input whose content is stored base64-encoded (Kibana keeps certificates and keys so). A
    secret's content is never shown back; choosing no file keeps the stored one. The form must post
    multipart/form-data, and the view read `request.files` with `request.form`."""

    template = "widgets/file.html"

    def display(self, f: FormField, value: Any) -> Any:
        return ""

    def read(self, f: FormField, form: MultiDict, name: str, s: Section) -> None:
        s.display[f.key] = ""
        upload = form.get(name)
        if not isinstance(upload, FileStorage) or not upload.filename:
            return  # no file chosen: a stored value is kept
        content = upload.stream.read(MAX_FILE_BYTES + 1)
        if len(content) > MAX_FILE_BYTES:
            s.errors[f.key] = f"The file is larger than {MAX_FILE_BYTES // 1024} KB; choose the certificate or key itself."
        elif not content:
            s.errors[f.key] = "The file is empty."
        else:
            s.data[f.key] = base64.b64encode(content).decode("ascii")


class Pem(TextArea):
    """PEM text, stored base64-encoded as Kibana stores a webhook's `ca`; base64 as typed is kept."""

    def parse(self, raw: str) -> Any:
        text = raw.strip()
        if text.startswith("-----BEGIN"):
            return base64.b64encode(text.encode() + b"\n").decode("ascii")
        try:
            decoded = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise Invalid("Paste the PEM certificate(s), -----BEGIN CERTIFICATE----- and all.") from None
        if b"-----BEGIN" not in decoded:
            raise Invalid("Paste the PEM certificate(s), -----BEGIN CERTIFICATE----- and all.")
        return text

    def display(self, f: FormField, value: Any) -> Any:
        if not isinstance(value, str) or not value:
            return ""
        try:
            return base64.b64decode(value, validate=True).decode("utf-8").strip()
        except (binascii.Error, ValueError):
            return value


WIDGETS: dict[str, Widget] = {}


def register(widget: Widget) -> Widget:
    if widget.name in WIDGETS:
        raise ValueError(f'a widget named "{widget.name}" is already registered')
    WIDGETS[widget.name] = widget
    return widget


for _widget in (
    Widget("text"),
    Widget("url"),
    Widget("password"),
    Widget("select", "widgets/select.html"),
    # A text input that offers choices fetched from the service by the field's `options` endpoint.
    Widget("suggest", "widgets/suggest.html"),
    Number("number"),
    TextArea("textarea"),
    Json("json"),
    JsonText("jsontext"),
    Checkbox("checkbox"),
    KeyValue("kv"),
    File("file"),
    Pem("pem"),
):
    register(_widget)


def widget_for(f: FormField) -> Widget:
    try:
        return WIDGETS[f.widget]
    except KeyError:
        raise LookupError(f'field "{f.key}" asks for widget "{f.widget}", which no module registered') from None
