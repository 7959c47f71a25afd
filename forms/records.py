"""Forms of the records area, built from the registry so a new type needs no form code."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import EmailField
from wtforms import RadioField
from wtforms import SelectField
from wtforms import StringField
from wtforms.validators import DataRequired
from wtforms.validators import Length
from wtforms.validators import Optional

from services.records import RecordType
from services.records_import import DEDUPE_CHOICES

_FORMS: dict[str, type] = {}


def record_form(record_type: RecordType) -> type[FlaskForm]:
    """The create/edit form class of a record type (the registry's editable fields)."""
    if record_type.name in _FORMS:
        return _FORMS[record_type.name]
    attrs = {}
    for field in record_type.editable_fields:
        validators = [DataRequired()] if field.required else [Optional()]
        if field.max_length:
            validators.append(Length(max=field.max_length))
        if field.type == "choice":
            attrs[field.key] = SelectField(field.label, choices=[("", "—"), *field.choices],
                                           validators=[Optional()])
        elif field.type == "email":
            attrs[field.key] = EmailField(field.label, validators=validators)
        else:
            attrs[field.key] = StringField(field.label, validators=validators)
    attrs["owner_id"] = SelectField("Owner", coerce=_int_or_none, validate_choice=False)
    form = type(f"{record_type.label}Form", (FlaskForm,), attrs)
    _FORMS[record_type.name] = form
    return form


def _int_or_none(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


class ImportUploadForm(FlaskForm):
    file = FileField("CSV file (UTF-8, first line names the columns)")


class ImportMappingForm(FlaskForm):
    dedupe = RadioField("When the email already exists", choices=DEDUPE_CHOICES,
                        default="update", validators=[DataRequired()])
