"""Parse and validate a System > Configuration form against its setting definitions."""

from __future__ import annotations

from email_validator import EmailNotValidError
from email_validator import validate_email

from services import crypto
from services.settings import Section


def parse_section(section: Section, form) -> tuple[dict, dict[str, str]]:
    values: dict[str, object] = {}
    errors: dict[str, str] = {}
    for definition in section.settings:
        raw = form.get(definition.key, "")
        if definition.kind == "bool":
            values[definition.key] = raw in ("on", "1", "true")
            continue
        if definition.kind == "secret":
            # Stored encrypted and never rendered back: a blank field keeps the stored value.
            if raw.strip():
                values[definition.key] = crypto.encrypt(raw.strip())
            continue
        raw = raw.strip()
        values[definition.key] = raw
        if definition.required and not raw:
            errors[definition.key] = "This value should not be blank."
        elif definition.kind == "email" and raw:
            try:
                validate_email(raw, check_deliverability=False)
            except EmailNotValidError:
                errors[definition.key] = "This value is not a valid email address."
        elif definition.kind == "int" and raw:
            if not raw.lstrip("-").isdigit():
                errors[definition.key] = "This value should be a whole number."
            else:
                values[definition.key] = int(raw)
        elif definition.kind == "choice" and raw not in {c for c, _ in definition.choices}:
            errors[definition.key] = "The value you selected is not a valid choice."
    # A dependent switch cannot be on while what it needs is off.
    for definition in section.settings:
        if definition.kind == "bool" and definition.depends_on in values \
                and values[definition.key] and not values[definition.depends_on]:
            errors[definition.key] = "Needs the setting it depends on to be enabled."
    return values, errors
