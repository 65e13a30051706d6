"""Organization isolation: another organization's object does not exist for the caller."""

from __future__ import annotations

from typing import Any, Protocol, TypeVar

from sqlalchemy.orm import Mapped, Session

from kallglot.core.errors import NotFoundError


class OrganizationOwned(Protocol):
    organization_id: Mapped[str]


T = TypeVar("T")


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
    obj: Any = session.get(model, object_id, with_for_update=for_update) if object_id else None
    if obj is None or obj.organization_id != organization_id:
        raise NotFoundError(f"No such {name}: '{object_id[:64]}'.", param="id")
    result: T = obj
    return result
