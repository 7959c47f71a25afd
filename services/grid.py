"""Server-side grids: filters, sorting and keyset pagination over a SQLAlchemy select.

A grid is declared once as data (its columns and filters) and applied to request
arguments, so every area's list page behaves the same way and keeps its state in the
URL. Pagination is by keyset, ``(sort value, id) > (last seen)``, which stays fast on
deep pages where OFFSET would scan everything before.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import time
from decimal import Decimal

from sqlalchemy import Select
from sqlalchemy import and_
from sqlalchemy import func
from sqlalchemy import or_
from sqlalchemy import select

from extensions import db

PAGE_SIZES = (10, 25, 50, 100)
DEFAULT_PAGE_SIZE = 25


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    expr: object  # a SQLAlchemy column expression
    sortable: bool = True
    # text | choice | date | number | bool, or None for no filter on this column
    filter: str | None = "text"
    choices: tuple[tuple[str, str], ...] = ()
    render: Callable | None = None  # row -> display value; default getattr(row, key)


@dataclass
class GridState:
    filters: dict[str, str] = field(default_factory=dict)
    sort: str = ""
    direction: str = "asc"
    size: int = DEFAULT_PAGE_SIZE
    after: str | None = None  # opaque cursor of the last row of the previous page


@dataclass
class Page:
    rows: list
    next_cursor: str | None
    total: int
    state: GridState


class Grid:
    def __init__(self, name: str, columns: list[Column], id_column, default_sort: str,
                 default_direction: str = "asc", count_cap: int | None = None):
        self.name = name
        # Counting stops past count_cap rows (the grid says "more than N"), so a grid over
        # millions of rows (tracking events) costs an index range, not a full count.
        self.count_cap = count_cap
        self.columns = {c.key: c for c in columns}
        self.id_column = id_column
        self.default_sort = default_sort
        self.default_direction = default_direction

    # -- request parsing -------------------------------------------------------------
    def state_from(self, args) -> GridState:
        filters = {}
        for column in self.columns.values():
            if not column.filter:
                continue
            for suffix in ("", "_from", "_to"):
                value = (args.get(f"f_{column.key}{suffix}") or "").strip()
                if value:
                    filters[column.key + suffix] = value[:200]
        sort = args.get("sort", self.default_sort)
        if sort not in self.columns or not self.columns[sort].sortable:
            sort = self.default_sort
        direction = args.get("dir", self.default_direction)
        direction = direction if direction in ("asc", "desc") else self.default_direction
        try:
            size = int(args.get("size", DEFAULT_PAGE_SIZE))
        except ValueError:
            size = DEFAULT_PAGE_SIZE
        size = size if size in PAGE_SIZES else DEFAULT_PAGE_SIZE
        return GridState(filters, sort, direction, size, args.get("after") or None)

    # -- query building --------------------------------------------------------------
    def filtered(self, query: Select, state: GridState) -> Select:
        for column in self.columns.values():
            kind = column.filter
            value = state.filters.get(column.key)
            if kind in ("text",) and value:
                query = query.where(func.lower(column.expr).contains(value.lower(),
                                                                     autoescape=True))
            elif kind in ("choice", "bool") and value:
                if kind == "bool":
                    query = query.where(column.expr.is_(value == "yes"))
                elif not column.choices or value in {key for key, _ in column.choices}:
                    # A value the select never offered (a forged URL) filters nothing
                    # rather than reaching an Enum column that cannot bind it.
                    query = query.where(column.expr == value)
            elif kind in ("date", "number"):
                low = _parse(kind, state.filters.get(column.key + "_from"), end=False)
                high = _parse(kind, state.filters.get(column.key + "_to"), end=True)
                if low is not None:
                    query = query.where(column.expr >= low)
                if high is not None:
                    query = query.where(column.expr <= high)
        return query

    def page(self, query: Select, state: GridState) -> Page:
        query = self.filtered(query, state)
        if self.count_cap:
            capped = query.with_only_columns(self.id_column).order_by(None).limit(
                self.count_cap + 1).subquery()
            total = db.session.scalar(select(func.count()).select_from(capped))
        else:
            # Counting over the query as a subquery stays right for DISTINCT, GROUP BY and
            # joined selects, where swapping the columns for count(*) would not.
            total = db.session.scalar(select(func.count()).select_from(
                query.order_by(None).subquery()))
        sort_expr = self.columns[state.sort].expr
        descending = state.direction == "desc"
        nullable = _nullable(sort_expr)
        primary = sort_expr.desc() if descending else sort_expr.asc()
        # NULLs last in both directions and on both databases (they differ by default),
        # so keyset paging over a nullable column reaches them exactly once. A NOT NULL
        # column keeps the plain ORDER BY, which a plain index serves.
        ordered = query.order_by(
            primary.nulls_last() if nullable else primary,
            self.id_column.desc() if descending else self.id_column.asc())
        cursor = _decode(state.after)
        if cursor is not None:
            ordered = ordered.where(_after(sort_expr, self.id_column, cursor, descending,
                                           nullable))
        rows = list(db.session.execute(ordered.limit(state.size + 1)).scalars()
                    if _single_entity(query) else db.session.execute(
                        ordered.limit(state.size + 1)))
        next_cursor = None
        if len(rows) > state.size:
            rows = rows[: state.size]
            last = rows[-1]
            next_cursor = _encode(self._value(last, state.sort), self._id_of(last))
        return Page(rows, next_cursor, total, state)

    def _value(self, row, key):
        value = getattr(row, key, None)
        if value is None and hasattr(row, "_mapping"):
            value = row._mapping.get(key)
        return value

    def _id_of(self, row):
        value = getattr(row, "id", None)
        if value is None and hasattr(row, "_mapping"):
            value = row._mapping.get("id")
        return value

    # -- links -----------------------------------------------------------------------
    def args(self, state: GridState, **changes) -> dict:
        """Query arguments for a link that keeps the grid's state, with ``changes``."""
        args = {f"f_{k}": v for k, v in state.filters.items()}
        args.update(sort=state.sort, dir=state.direction, size=state.size)
        args.update(changes)
        return {k: v for k, v in args.items() if v not in (None, "")}


def _single_entity(query: Select) -> bool:
    return len(query.column_descriptions) == 1 and query.column_descriptions[0].get("entity") \
        is not None


def _nullable(expr) -> bool:
    """Whether a sort expression can hold NULL (mapped columns say; others may)."""
    prop = getattr(expr, "property", None)
    columns = getattr(prop, "columns", None)
    if columns:
        return bool(getattr(columns[0], "nullable", True))
    return bool(getattr(expr, "nullable", True))


def _after(sort_expr, id_column, cursor: tuple, descending: bool, nullable: bool = True):
    value, last_id = cursor
    if value is None:
        # Already among the NULLs, which come last: keep paging by id.
        return and_(sort_expr.is_(None), id_column < last_id if descending else
                    id_column > last_id)
    nulls = (sort_expr.is_(None),) if nullable else ()
    if descending:
        return or_(sort_expr < value, and_(sort_expr == value, id_column < last_id), *nulls)
    return or_(sort_expr > value, and_(sort_expr == value, id_column > last_id), *nulls)


def _encode(value, row_id) -> str:
    if isinstance(value, datetime):
        payload = {"t": "dt", "v": value.isoformat()}
    elif isinstance(value, date):
        payload = {"t": "d", "v": value.isoformat()}
    elif isinstance(value, Decimal):  # money columns: a string would compare as text
        payload = {"t": "dec", "v": str(value)}
    elif hasattr(value, "value"):  # enums
        payload = {"v": value.value}
    else:
        payload = {"v": value if value is None or isinstance(value, int | float | str)
                   else str(value)}
    payload["id"] = row_id
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


def _decode(cursor: str | None):
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        payload = json.loads(raw)
        value = payload.get("v")
        if payload.get("t") == "dt":
            value = datetime.fromisoformat(value)
        elif payload.get("t") == "d":
            value = date.fromisoformat(value)
        elif payload.get("t") == "dec":
            value = Decimal(value)
        return value, int(payload["id"])
    except (ValueError, KeyError, TypeError, ArithmeticError):
        return None  # a tampered or stale cursor restarts at the first page


def _parse(kind: str, raw: str | None, end: bool):
    if not raw:
        return None
    try:
        if kind == "number":
            return float(raw)
        day = date.fromisoformat(raw)
    except ValueError:
        return None
    moment = datetime.combine(day, time.max if end else time.min)
    return moment.replace(tzinfo=UTC)
