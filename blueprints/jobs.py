"""Job runs: the list, and the progress fragment that polls while a run is active."""

from __future__ import annotations

from flask import Blueprint
from flask import abort
from sqlalchemy import select

from extensions import db
from models.jobs import JobRun
from web.htmx import render

bp = Blueprint("jobs", __name__, url_prefix="/jobs")


@bp.get("/")
def jobs_index():
    runs = db.session.scalars(select(JobRun).order_by(JobRun.id.desc()).limit(100)).all()
    return render("jobs/index.html", "content", runs=runs)


@bp.get("/<int:run_id>/progress")
def job_progress(run_id: int):
    run = db.session.get(JobRun, run_id) or abort(404)
    return render("jobs/progress.html", "progress", run=run)
