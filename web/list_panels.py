"""Panels other areas add to a marketing list's view page (e.g. "Connect to dotdigital").

The list view calls ``{{ list_panels(mlist) }}`` once; each integration registers a panel
with the template to include and a function giving its context (None hides it), so the
lists templates need no per-integration code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask import render_template
from markupsafe import Markup


@dataclass(frozen=True)
class ListPanel:
    key: str
    template: str
    context: Callable[[object], dict | None]


PANELS: dict[str, ListPanel] = {}


def register(panel: ListPanel) -> ListPanel:
    PANELS[panel.key] = panel
    return panel


def render_panels(mlist) -> Markup:
    parts = []
    for panel in PANELS.values():
        context = panel.context(mlist)
        if context is not None:
            parts.append(render_template(panel.template, mlist=mlist, **context))
    return Markup("".join(parts))  # noqa: S704 - templates Jinja already escaped
