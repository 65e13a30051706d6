"""Pagination for routes: the ``limit``/``starting_after``/``ending_before`` query.

The paging itself (:class:`Page`, :func:`paginate`) is :mod:`kallglot.db.pagination`,
re-exported here so a route imports one module.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request

from kallglot.core.errors import InvalidRequestError
from kallglot.db.pagination import MAX_PAGE_SIZE, Page, PageParams, paginate

__all__ = ["CURSOR_PATTERN", "Page", "PageParams", "Pagination", "page_params", "paginate"]

CURSOR_PATTERN = r"^[A-Za-z0-9_]+$"


def page_params(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Page size")] = 20,
    starting_after: Annotated[
        str | None,
        Query(
            max_length=64,
            pattern=CURSOR_PATTERN,
            description="Id of the last object of the previous page",
        ),
    ] = None,
    ending_before: Annotated[
        str | None,
        Query(
            max_length=64,
            pattern=CURSOR_PATTERN,
            description="Id of the first object of the next (newer) page",
        ),
    ] = None,
) -> PageParams:
    if starting_after is not None and ending_before is not None:
        raise InvalidRequestError(
            "Give starting_after or ending_before, not both.",
            code="invalid_request",
            param="ending_before",
        )
    return PageParams(
        limit=limit,
        starting_after=starting_after,
        ending_before=ending_before,
        url=request.url.path,
    )


Pagination = Annotated[PageParams, Depends(page_params)]
