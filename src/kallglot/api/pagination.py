"""Cursor pagination over time-ordered ids: newest first, no duplicates, no gaps.

The cursor is the id of the last object on a page (``starting_after``); as ids
are unique and ordered, rows added meanwhile never shift a page.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel
from sqlalchemy import Select
from sqlalchemy.orm import InstrumentedAttribute, Session

Row = TypeVar("Row")
Item = TypeVar("Item")

MAX_PAGE_SIZE = 100


class PageParams(BaseModel):
    limit: int = 20
    starting_after: str | None = None


def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Page size")] = 20,
    starting_after: Annotated[
        str | None,
        Query(
            max_length=64,
            pattern=r"^[A-Za-z0-9_]+$",
            description="Id of the last object of the previous page",
        ),
    ] = None,
) -> PageParams:
    return PageParams(limit=limit, starting_after=starting_after)


Pagination = Annotated[PageParams, Depends(page_params)]


class Page(BaseModel, Generic[Item]):
    object: str = "list"
    data: list[Item]
    has_more: bool
    next_cursor: str | None = None


def paginate(
    session: Session,
    statement: Select[Row],
    id_column: InstrumentedAttribute[str],
    params: PageParams,
    to_item: Callable[[Row], Item],
) -> Page[Item]:
    """Run ``statement`` one page at a time, newest id first."""
    if params.starting_after is not None:
        statement = statement.where(id_column < params.starting_after)
    rows: Sequence[Row] = session.scalars(
        statement.order_by(id_column.desc()).limit(params.limit + 1)
    ).all()
    has_more = len(rows) > params.limit
    rows = rows[: params.limit]
    items = [to_item(row) for row in rows]
    next_cursor = str(getattr(rows[-1], id_column.key)) if has_more and rows else None
    return Page[Item](data=items, has_more=has_more, next_cursor=next_cursor)
