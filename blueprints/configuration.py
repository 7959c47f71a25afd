"""System > Configuration: one page per section of setting definitions (admins only)."""

from __future__ import annotations

from flask import Blueprint
from flask import abort
from flask import flash
from flask import request
from flask import url_for

from services import settings
from services.config_forms import parse_section
from web.htmx import redirect_htmx
from web.htmx import render
from web.security import permission_required

bp = Blueprint("configuration", __name__, url_prefix="/configuration")


@bp.before_request
@permission_required("admin")
def _admins_only():
    return None


def _section(section_id: str) -> settings.Section:
    return settings.SECTIONS.get(section_id) or abort(404)


@bp.get("/")
def configuration_index():
    first = next(iter(settings.SECTIONS))
    return configuration_section(first)


@bp.get("/<section_id>")
def configuration_section(section_id: str):
    section = _section(section_id)
    values = {d.key: settings.get(d.key) for d in section.settings}
    return render("configuration/section.html", "content", sections=settings.SECTIONS,
                  section=section, values=values, errors={})


@bp.post("/<section_id>")
def configuration_save(section_id: str):
    section = _section(section_id)
    values, errors = parse_section(section, request.form)
    if errors:
        return render("configuration/section.html", "settings_form", status=422,
                      sections=settings.SECTIONS, section=section, values=values, errors=errors)
    settings.save(values)
    flash("Configuration saved.", "success")
    # Feature switches change the menu: reload the whole page.
    return redirect_htmx(url_for("configuration.configuration_section", section_id=section.id))
