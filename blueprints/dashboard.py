"""The home page: counts per area and the latest job runs."""

from __future__ import annotations

from flask import Blueprint

from services import dashboard
from web.htmx import render

bp = Blueprint("dashboard", __name__)


@bp.get("/")
def index():
    return render("dashboard/index.html", "content", counts=dashboard.counts(),
                  runs=dashboard.latest_runs())
