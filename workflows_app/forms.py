"""Forms generated from a step's JSON schema (resume data, workflow input), with a JSON fallback.

Simple properties (strings, numbers, booleans, enums) become form fields; anything
else is typed as JSON. Django only shapes the data: pydantic, through the engine
API, is what validates it, and its issues are put back on the fields they name.
JSON typed into any admin form is decoded by :func:`decode_json`, with the limits
the REST API and the command line apply.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.forms.fields import InvalidJSONInput, JSONString

from .core import payloads
from .core.errors import PayloadError

_SIMPLE = {"string", "integer", "number", "boolean"}


def _simple_type(spec: dict[str, Any]) -> tuple[str | None, bool]:
    """The property's simple JSON type, if it has one, and whether it may be null."""
    options = spec.get("anyOf")
    if options:
        types = [option.get("type") for option in options]
        nullable = "null" in types
        others = [option for option in options if option.get("type") != "null"]
        if len(others) == 1 and others[0].get("type") in _SIMPLE and "enum" not in others[0]:
            return others[0]["type"], nullable
        return None, nullable
    kind = spec.get("type")
    return (kind if kind in _SIMPLE else None), False


def _field(name: str, spec: dict[str, Any], required: bool) -> forms.Field | None:
    """A form field for a simple property, or ``None`` for one only JSON can express.

    Django never requires a field: pydantic decides, and its message comes back
    on the field. A required property is marked with a star.
    """
    kind, nullable = _simple_type(spec)
    options: dict[str, Any] = {
        "label": (spec.get("title") or name) + (" *" if required and not nullable else ""),
        "help_text": spec.get("description", ""),
        "required": False,
    }
    if "enum" in spec:
        return forms.ChoiceField(
            choices=[("", "")] + [(json.dumps(v), str(v)) for v in spec["enum"]], **options
        )
    initial = spec.get("default")
    if kind == "string":
        return forms.CharField(initial=initial, **options)
    if kind == "integer":
        return forms.IntegerField(initial=initial, **options)
    if kind == "number":
        return forms.FloatField(initial=initial, **options)
    if kind == "boolean":
        return forms.BooleanField(initial=initial, **options)
    return None


def decode_json(text: str, *, what: str) -> Any:
    """``text`` decoded by :func:`payloads.parse_json`, its refusals worded as a form error on ``what``."""
    try:
        return payloads.parse_json(text, what=what)
    except json.JSONDecodeError as exc:
        message = f"Not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        raise forms.ValidationError(message) from exc
    except PayloadError as exc:
        raise forms.ValidationError(str(exc)) from exc


class LimitedJSONField(forms.JSONField):
    """Django's JSON field decoding through :func:`decode_json`, so within the payload limits.

    Django's own decodes with ``json.loads`` and catches only its decode error: a
    5,000-digit number (``ValueError``) or 5,000 nested arrays (``RecursionError``)
    escaped the form as a 500, when cleaning and again when showing the text back.
    """

    def __init__(self, *, what: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.what = what

    def to_python(self, value: Any) -> Any:
        typed = isinstance(value, str) and not isinstance(value, JSONString)  # not a decoded value
        if self.disabled or not typed or value in self.empty_values:
            return super().to_python(value)
        decoded = decode_json(value, what=self.what)
        return JSONString(decoded) if isinstance(decoded, str) else decoded

    def bound_data(self, data: Any, initial: Any) -> Any:
        if self.disabled or not isinstance(data, str):
            return super().bound_data(data, initial)
        try:
            return payloads.parse_json(data, what=self.what)
        except (json.JSONDecodeError, PayloadError):
            return InvalidJSONInput(data)  # shown again as typed, beside its error


class SchemaForm(forms.Form):
    """Fields for the simple properties of ``schema``; ``json`` overrides them all when given."""

    json = forms.CharField(
        label="JSON",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "cols": 60}),
        help_text="Optional: the whole value as JSON, used instead of the fields above.",
    )

    def __init__(self, schema: dict[str, Any] | None, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.schema = schema or {}
        self.complex = False
        properties = self.schema.get("properties", {})
        required = set(self.schema.get("required", []))
        simple: dict[str, forms.Field] = {}
        for name, spec in properties.items():
            field = _field(name, spec, name in required)
            if field is None:
                self.complex = True
            else:
                simple[name] = field
        if self.complex or not properties:
            simple = {}  # a value the fields cannot express: JSON only
            self.fields["json"].help_text = "The value as JSON."
        self.fields = {**simple, "json": self.fields["json"]}

    def clean_json(self) -> Any:
        text = self.cleaned_data.get("json", "").strip()
        if not text:
            return None
        return decode_json(text, what="the JSON")

    def payload(self) -> Any:
        """The value the user gave: the JSON if any, else the fields (enums decoded)."""
        if self.cleaned_data.get("json") is not None:
            return self.cleaned_data["json"]
        data: dict[str, Any] = {}
        for name, value in self.cleaned_data.items():
            if name == "json" or value in (None, ""):
                continue
            data[name] = json.loads(value) if isinstance(self.fields[name], forms.ChoiceField) else value
        return data

    def add_issues(self, issues: list[dict[str, Any]]) -> None:
        """Put pydantic's issues on the fields they name, the rest on the form."""
        for issue in issues:
            path = str(issue.get("path") or "")
            name = path.split(".")[0]
            message = str(issue.get("message", issue))
            if name in self.fields and name != "json":
                self.add_error(name, message)
            else:
                self.add_error(None, f"{path}: {message}" if path else message)
