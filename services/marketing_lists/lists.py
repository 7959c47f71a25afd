"""Creating, changing and deleting marketing lists, and their Items/Removed grids."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_
from sqlalchemy import exists
from sqlalchemy import func
from sqlalchemy import select

import jobs
from extensions import db
from models.lists import ListType
from models.lists import MarketingList
from models.lists import MarketingListItem
from models.lists import MarketingListRemovedItem
from services import records
from services.grid import Column
from services.grid import Grid
from services.grid import GridState
from services.grid import Page
from services.grid import _after
from services.grid import _decode
from services.grid import _encode
from services.marketing_lists import membership
from services.marketing_lists.filters import FilterError
from services.marketing_lists.filters import validate

ITEMS = MarketingListItem.__table__
REMOVED = MarketingListRemovedItem.__table__
MAX_COLUMNS = 30
SORTS = ("", "asc", "desc")
CONTACT_INFO_REQUIRED = "At least one column must contain contact information"
_FILTER_KIND = {"string": "text", "email": "text", "phone": "text", "choice": "choice",
                "date": "date", "datetime": "date", "number": "number", "bool": "bool"}


class ListError(ValueError):
    """Invalid list; ``errors`` maps "name", "filter.<path>", "columns"… to messages."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


@dataclass
class ListInput:
    name: str
    entity: str
    type: str
    include_previously_contacted: bool
    owner_id: int | None
    description: str
    filter: dict
    columns: list


def validate_columns(record_type: records.RecordType, columns) -> list[dict]:
    """Normalised columns; raises ListError with the reference's messages."""
    if not isinstance(columns, list) or not columns:
        raise ListError({"columns": "Add at least one column."})
    if len(columns) > MAX_COLUMNS:
        raise ListError({"columns": f"A list can show at most {MAX_COLUMNS} columns."})
    seen, result = set(), []
    for column in columns:
        key = column.get("field") if isinstance(column, dict) else None
        field = record_type.fields.get(key) if isinstance(key, str) else None
        if field is None:
            raise ListError({"columns": f"Unknown column “{key}”." if key
                             else "Choose a field for every column."})
        if key in seen:
            raise ListError({"columns": f"{field.label} is a column twice."})
        seen.add(key)
        label = str(column.get("label") or field.label).strip()[:100] or field.label
        sort = column.get("sort") or ""
        if sort not in SORTS:
            raise ListError({"columns": f"“{sort}” is not a sort order."})
        result.append({"field": key, "label": label, "sort": sort})
    if not any(record_type.fields[c["field"]].contact_info for c in result):
        raise ListError({"columns": CONTACT_INFO_REQUIRED})
    return result


def clean(data: ListInput, existing: MarketingList | None = None) -> dict:
    errors: dict[str, str] = {}
    name = (data.name or "").strip()
    if not name:
        errors["name"] = "Name is required."
    elif len(name) > 255:
        errors["name"] = "At most 255 characters."
    else:
        clash = db.session.scalar(select(MarketingList.id).where(
            func.lower(MarketingList.name) == name.lower()))
        if clash and (existing is None or clash != existing.id):
            errors["name"] = "A marketing list with this name already exists."
    record_type = records.RECORD_TYPES.get(data.entity)
    if record_type is None:
        errors["entity"] = "Choose an entity."
    if existing is not None and existing.type is ListType.MANUAL:
        list_type = ListType.MANUAL  # manual lists are locked once set
    elif data.type in (ListType.DYNAMIC.value, ListType.ON_DEMAND.value):
        list_type = ListType(data.type)
    else:
        errors["type"] = "Choose Dynamic or On demand."
        list_type = None
    tree, columns = {}, []
    if record_type is not None:
        try:
            tree = validate(data.filter, record_type.fields)
        except FilterError as exc:
            errors.update({f"filter.{path}": message for path, message in exc.errors.items()})
        try:
            columns = validate_columns(record_type, data.columns)
        except ListError as exc:
            errors.update(exc.errors)
    if len(data.description or "") > 10_000:
        errors["description"] = "At most 10,000 characters."
    if errors:
        raise ListError(errors)
    return {"name": name, "entity": data.entity, "type": list_type,
            "include_previously_contacted": bool(data.include_previously_contacted),
            "owner_id": data.owner_id, "description": (data.description or "").strip(),
            "filter": tree, "columns": columns}


def create(data: ListInput, user_id: int | None = None) -> MarketingList:
    mlist = MarketingList(**clean(data))
    db.session.add(mlist)
    db.session.commit()
    refresh_later(mlist, user_id)
    return mlist


def update(mlist: MarketingList, data: ListInput, user_id: int | None = None) -> MarketingList:
    values = clean(data, mlist)
    if values["entity"] != mlist.entity:
        # Other ids in another table: the old members, removals and opt-outs mean nothing.
        membership.delete_list_rows(mlist.id)
    for key, value in values.items():
        setattr(mlist, key, value)
    db.session.commit()
    refresh_later(mlist, user_id)
    return mlist


def delete(mlist: MarketingList) -> None:
    membership.delete_list_rows(mlist.id)
    db.session.delete(mlist)
    db.session.commit()


def refresh_later(mlist: MarketingList, user_id: int | None = None):
    if mlist.type is ListType.MANUAL:
        return None
    return jobs.enqueue("marketing_list_refresh", f"marketing_list:{mlist.id}",
                        {"list_id": mlist.id}, user_id)


def active_refresh(mlist: MarketingList):
    return jobs.runner.active_run("marketing_list_refresh", f"marketing_list:{mlist.id}")


# -- the view page's grids ------------------------------------------------------------------

COUNT_CAP = 1000


class ItemsGrid(Grid):
    """The grid of a list's items, which may hold millions of rows.

    Two changes to the shared grid keep every page a short index range: the total is
    counted up to COUNT_CAP ("10000+"), and paging by the id itself is a plain
    ``entity_id > last`` that the (list, entity) index answers directly.
    """

    def page(self, query, state: GridState) -> Page:
        query = self.filtered(query, state)
        capped = db.session.scalar(select(func.count()).select_from(
            query.with_only_columns(self.id_column).order_by(None).limit(COUNT_CAP + 1)
            .subquery()))
        total = f"{COUNT_CAP}+" if capped > COUNT_CAP else capped
        sort_expr = self.columns[state.sort].expr
        descending = state.direction == "desc"
        ordered = query.order_by(sort_expr.desc() if descending else sort_expr.asc(),
                                 self.id_column.desc() if descending else self.id_column.asc())
        cursor = _decode(state.after)
        if cursor is not None:
            if sort_expr is self.id_column:
                last = cursor[1]
                ordered = ordered.where(self.id_column < last if descending
                                        else self.id_column > last)
            else:
                ordered = ordered.where(_after(sort_expr, self.id_column, cursor, descending))
        rows = list(db.session.execute(ordered.limit(state.size + 1)))
        next_cursor = None
        if len(rows) > state.size:
            rows = rows[: state.size]
            last_row = rows[-1]
            next_cursor = _encode(last_row._mapping[state.sort], last_row.id)
        return Page(rows, next_cursor, total, state)


def items_grid(mlist: MarketingList, removed: bool = False) -> Grid:
    record_type = records.get(mlist.entity)
    columns = [Column("id", "ID", ITEMS.c.entity_id, filter=None)]
    default_sort, direction = "id", "asc"
    for index, column in enumerate(mlist.columns or []):
        field = record_type.fields.get(column["field"])
        if field is None:
            continue
        key = f"c{index}"
        expr = field.column
        if field.type in ("string", "email", "phone", "choice"):
            expr = func.coalesce(expr, "")  # keyset paging needs NULL-free sorts
        columns.append(Column(key, column["label"], expr, filter=_FILTER_KIND[field.type],
                              choices=field.choices))
        if column.get("sort") and default_sort == "id":
            default_sort, direction = key, column["sort"]
    if not removed:
        columns += [
            Column("contacted_times", "Total contacted", ITEMS.c.contacted_times,
                   filter="number"),
            # Not sortable: keyset paging needs NULL-free sort keys.
            Column("last_contacted_at", "Last contacted at", ITEMS.c.last_contacted_at,
                   filter="date", sortable=False),
            Column("subscribed", "Subscribed", ITEMS.c.subscribed, filter="bool"),
        ]
    name = f"list{mlist.id}-{'removed' if removed else 'items'}"
    return ItemsGrid(name, columns, ITEMS.c.entity_id, default_sort=default_sort,
                     default_direction=direction)


def items_select(mlist: MarketingList, grid: Grid, removed: bool = False):
    model = records.get(mlist.entity).model
    labelled = [c.expr.label(c.key) for c in grid.columns.values() if c.key != "id"]
    if removed:
        # Driven by the removed rows: a handful, where the items may be millions.
        return (select(ITEMS.c.entity_id.label("id"), *labelled)
                .select_from(REMOVED.join(ITEMS, and_(
                    ITEMS.c.marketing_list_id == REMOVED.c.marketing_list_id,
                    ITEMS.c.entity_id == REMOVED.c.entity_id))
                    .join(model.__table__, model.id == ITEMS.c.entity_id))
                .where(REMOVED.c.marketing_list_id == mlist.id))
    is_removed = exists().where(REMOVED.c.marketing_list_id == mlist.id,
                                REMOVED.c.entity_id == ITEMS.c.entity_id)
    return (select(ITEMS.c.entity_id.label("id"), *labelled)
            .select_from(ITEMS.join(model.__table__, model.id == ITEMS.c.entity_id))
            .where(ITEMS.c.marketing_list_id == mlist.id, ~is_removed))


def member_counts(mlist: MarketingList) -> dict[str, int]:
    total = db.session.scalar(select(func.count()).select_from(ITEMS).where(
        ITEMS.c.marketing_list_id == mlist.id)) or 0
    removed = db.session.scalar(select(func.count()).select_from(REMOVED).where(
        REMOVED.c.marketing_list_id == mlist.id)) or 0
    return {"members": total, "removed": removed}
