"""Cursor pagination over time-ordered ids: newest first, no duplicates, no gaps.

As in the public Kallglot API: ``limit`` (1-100, default 20), ``starting_after`` (the
page after the object with that id, i.e. older) or ``ending_before`` (the page just
before it, i.e. newer); the list is ``{object: "list", data, has_more, url}``. As ids
are unique and ordered, rows added meanwhile never shift a page. ``next_cursor`` is
our addition: the id to pass on to continue in the same direction.

This half knows no HTTP, so a service can page a query; the query-string dependency
that fills :class:`PageParams` is :mod:`kallglot.http.pagination`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from pydantic import BaseModel
from sqlalchemy import Select
from sqlalchemy.orm import InstrumentedAttribute, Session

__all__ = ["MAX_PAGE_SIZE", "Page", "PageParams", "paginate"]

Row = TypeVar("Row")
Item = TypeVar("Item")

MAX_PAGE_SIZE = 100


class PageParams(BaseModel):
    limit: int = 20
    starting_after: str | None = None
    ending_before: str | None = None
    url: str = ""


class Page(BaseModel, Generic[Item]):
    object: str = "list"
    data: list[Item]
    has_more: bool
    url: str = ""
    next_cursor: str | None = None


def paginate(
    session: Session,
    statement: Select[Row],
    id_column: InstrumentedAttribute[str],
    params: PageParams,
    to_item: Callable[[Row], Item],
) -> Page[Item]:
    """Run ``statement`` one page at a time, newest id first."""
    backwards = params.ending_before is not None
    if params.starting_after is not None:
        statement = statement.where(id_column < params.starting_after)
    if params.ending_before is not None:
        statement = statement.where(id_column > params.ending_before)
    order = id_column.asc() if backwards else id_column.desc()
    rows: Sequence[Row] = session.scalars(statement.order_by(order).limit(params.limit + 1)).all()
    has_more = len(rows) > params.limit
    # Going backwards the rows come oldest first; the page itself is always newest first.
    rows = list(reversed(rows[: params.limit])) if backwards else rows[: params.limit]
    items = [to_item(row) for row in rows]
    edge = (rows[0] if backwards else rows[-1]) if rows else None
    next_cursor = str(getattr(edge, id_column.key)) if has_more and edge is not None else None
    return Page[Item](data=items, has_more=has_more, url=params.url, next_cursor=next_cursor)
