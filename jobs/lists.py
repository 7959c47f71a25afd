"""Jobs of the lists area: list refresh, record re-evaluation, CSV import."""

from __future__ import annotations

from jobs.registry import job
from jobs.runner import JobError
from jobs.runner import report
from models.jobs import JobRun
from services.marketing_lists import membership


@job("marketing_list_refresh", label="Refresh marketing list")
def marketing_list_refresh(run: JobRun, list_id: int) -> None:
    report(run, phase="matching records")
    counts = membership.materialise(list_id)
    report(run, phase="done", progress=1, total=1, counts=counts)


@job("records_reevaluate", label="Re-evaluate dynamic lists")
def records_reevaluate(run: JobRun, entity: str, ids: list[int]) -> None:
    report(run, phase="matching", total=len(ids))
    counts = membership.reevaluate_records(entity, ids)
    report(run, phase="done", progress=len(ids), counts=counts)


@job("records_import", label="CSV import", timeout=4 * 3600)
def records_import(run: JobRun, import_id: str, entity: str, mapping: dict, dedupe: str,
                   owner_id: int | None = None) -> None:
    from services import records_import

    try:
        records_import.run_import(run, import_id, entity, mapping, dedupe, owner_id)
    except records_import.ImportFileError as exc:
        raise JobError(str(exc)) from exc
