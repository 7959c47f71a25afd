"""The registry of record types that carry contact information.

Marketing lists, their filters and columns, CSV import/export and the integrations'
data-field mappings all work over ``RECORD_TYPES``; adding a third type is one model and
one entry here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from dataclasses import field

from sqlalchemy import String
from sqlalchemy import select
from sqlalchemy import type_coerce

from models.contacts import Contact
from models.contacts import Lead
from models.contacts import LeadSource
from models.contacts import LeadStatus
from models.users import User

FIELD_TYPES = ("string", "email", "phone", "date", "datetime", "number", "bool", "choice")

# Pragmatic, not RFC 5322: one @, a dot in the domain, no spaces. Providers reject the rest.
EMAIL_RE = re.compile(r"^[^@\s,;<>\"]+@[^@\s,;<>\"]+\.[^@\s,;<>\".]+$")
PHONE_RE = re.compile(r"^[0-9+()./ \-]{3,40}$")


@dataclass(frozen=True)
class FieldDef:
    key: str
    label: str
    type: str
    column: object  # a SQLAlchemy column expression over the record's table
    contact_info: bool = False  # an email or phone the lists can reach people through
    choices: tuple[tuple[str, str], ...] = ()
    required: bool = False
    max_length: int | None = None
    # Writable from forms and CSV import (False for owner, created, updated).
    editable: bool = True

    def __post_init__(self):
        if self.type not in FIELD_TYPES:
            raise ValueError(f"unknown field type {self.type!r}")


@dataclass(frozen=True)
class RecordType:
    name: str  # "contact"
    label: str  # "Contact"
    plural: str  # "Contacts"
    model: type
    fields: dict[str, FieldDef]
    email_field: str
    blueprint: str = ""  # its pages, for links from lists
    title_fields: tuple[str, ...] = field(default=())

    @property
    def id_column(self):
        return self.model.id

    def field(self, key: str) -> FieldDef:
        return self.fields[key]

    @property
    def email_column(self):
        return self.fields[self.email_field].column

    @property
    def contact_fields(self) -> list[FieldDef]:
        return [f for f in self.fields.values() if f.contact_info]

    @property
    def required_fields(self) -> list[FieldDef]:
        return [f for f in self.fields.values() if f.required]

    @property
    def editable_fields(self) -> list[FieldDef]:
        return [f for f in self.fields.values() if f.editable]


def _fields(*defs: FieldDef) -> dict[str, FieldDef]:
    return {d.key: d for d in defs}


def _owner(model):
    return (select(User.email).where(User.id == model.owner_id)
            .correlate(model).scalar_subquery().label("owner"))


def _choices(enum_class) -> tuple[tuple[str, str], ...]:
    return tuple((m.value, m.label) for m in enum_class)


RECORD_TYPES: dict[str, RecordType] = {}


def register(record_type: RecordType) -> RecordType:
    RECORD_TYPES[record_type.name] = record_type
    return record_type


register(RecordType(
    name="contact", label="Contact", plural="Contacts", model=Contact, email_field="email",
    blueprint="contacts", title_fields=("first_name", "last_name"),
    fields=_fields(
        FieldDef("first_name", "First name", "string", Contact.first_name, max_length=100),
        FieldDef("last_name", "Last name", "string", Contact.last_name, max_length=100),
        FieldDef("email", "Email", "email", Contact.email, contact_info=True, required=True,
                 max_length=254),
        FieldDef("phone", "Phone", "phone", Contact.phone, contact_info=True, max_length=40),
        FieldDef("company", "Company", "string", Contact.company, max_length=255),
        FieldDef("job_title", "Job title", "string", Contact.job_title, max_length=255),
        FieldDef("country", "Country", "string", Contact.country, max_length=100),
        FieldDef("city", "City", "string", Contact.city, max_length=100),
        FieldDef("tags", "Tags", "string", Contact.tags, max_length=500),
        FieldDef("owner", "Owner", "string", _owner(Contact), editable=False),
        FieldDef("created_at", "Created", "datetime", Contact.created_at, editable=False),
        FieldDef("updated_at", "Updated", "datetime", Contact.updated_at, editable=False),
    )))

register(RecordType(
    name="lead", label="Lead", plural="Leads", model=Lead, email_field="email",
    blueprint="leads", title_fields=("name",),
    fields=_fields(
        FieldDef("name", "Lead name", "string", Lead.name, required=True, max_length=255),
        FieldDef("first_name", "First name", "string", Lead.first_name, max_length=100),
        FieldDef("last_name", "Last name", "string", Lead.last_name, max_length=100),
        FieldDef("email", "Email", "email", Lead.email, contact_info=True, max_length=254),
        FieldDef("phone", "Phone", "phone", Lead.phone, contact_info=True, max_length=40),
        FieldDef("company", "Company", "string", Lead.company, max_length=255),
        # Compared as plain strings: the enum type would refuse values it does not know
        # before the filter validation could say so.
        FieldDef("source", "Source", "choice", type_coerce(Lead.source, String),
                 choices=_choices(LeadSource)),
        FieldDef("status", "Status", "choice", type_coerce(Lead.status, String),
                 choices=_choices(LeadStatus)),
        FieldDef("owner", "Owner", "string", _owner(Lead), editable=False),
        FieldDef("created_at", "Created", "datetime", Lead.created_at, editable=False),
        FieldDef("updated_at", "Updated", "datetime", Lead.updated_at, editable=False),
    )))


def get(name: str) -> RecordType:
    return RECORD_TYPES[name]


def normalise_email(value: str | None) -> str | None:
    value = (value or "").strip().lower()
    return value or None


def valid_email(value: str | None) -> bool:
    return bool(value) and len(value) <= 254 and EMAIL_RE.match(value) is not None


def valid_phone(value: str | None) -> bool:
    return bool(value) and PHONE_RE.match(value) is not None
