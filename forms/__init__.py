"""WTForms classes, one module per area."""

from __future__ import annotations

import enum
from typing import TypeVar

E = TypeVar("E", bound=enum.Enum)


def enum_value(enum_cls: type[E], value: str | None, default: E) -> E:
    """A choice field's value as its enum member, ``default`` when it is none of them.

    Views build the service's data before checking the form, so that the service's rules
    report too; a forged value is already an error on its field and must not raise here.
    """
    try:
        return enum_cls(value) if value else default
    except ValueError:
        return default
