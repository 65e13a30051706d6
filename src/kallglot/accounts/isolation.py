"""Organization isolation: another organization's object does not exist for the caller."""

from __future__ import annotations

import re
from typing import Any, Protocol, TypeVar

from sqlalchemy.orm import Mapped, Session

from kallglot.core.errors import NotFoundError


class OrganizationOwned(Protocol):
    organization_id: Mapped[str]


T = TypeVar("T")

_OBJECT_ID = re.compile(r"^[a-z]{2,8}_[0-9A-Za-z]{1,40}$")


def is_object_id(value: str) -> bool:
    """Shaped like one of our ids (``mem_01J…``); anything else cannot name an object."""
    return bool(_OBJECT_ID.match(value))


def get_for_organization(
    session: Session,
    model: type[T],
    object_id: str,
    organization_id: str,
    *,
    what: str | None = None,
    for_update: bool = False,
) -> T:
    """Load ``model`` by id, or raise 404 if it is missing *or belongs to another organization*.

    The answer is the same in both cases (404, never 403) so that ids of other
    organizations cannot be probed.
    """
    name = what or getattr(model, "__tablename__", "object").rstrip("s").replace("_", " ")
    obj: Any = None
    if is_object_id(object_id):
        obj = session.get(model, object_id, with_for_update=for_update)
    if obj is None or obj.organization_id != organization_id:
        shown = object_id[:64] if is_object_id(object_id) else "…"
        raise NotFoundError(f"No such {name}: '{shown}'.", param="id")
    result: T = obj
    return result
