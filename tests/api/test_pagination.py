"""Cursor pagination walks every row exactly once."""

from __future__ import annotations

from sqlalchemy import select

from kallglot.accounts.models import Organization
from kallglot.core.ids import new_id
from kallglot.http.pagination import PageParams, paginate
from tests.conftest import MigratedDatabase


def test_walks_1000_rows_without_duplicates_or_gaps(database: MigratedDatabase) -> None:
    with database.sessions.begin() as session:
        session.add_all(
            Organization(id=new_id("org"), name=f"org {n}", slug=f"org-{n}") for n in range(1000)
        )
    with database.sessions() as session:
        expected = set(session.scalars(select(Organization.id)))
        seen: list[str] = []
        cursor: str | None = None
        pages = 0
        while True:
            page = paginate(
                session,
                select(Organization),
                Organization.id,
                PageParams(limit=37, starting_after=cursor),
                lambda organization: organization.id,
            )
            seen.extend(page.data)
            pages += 1
            if not page.has_more:
                assert page.next_cursor is None
                break
            cursor = page.next_cursor
    assert len(seen) == len(set(seen)) == 1000
    assert set(seen) == expected
    assert seen == sorted(seen, reverse=True)
    assert pages == 28


def test_rows_added_during_the_walk_do_not_shift_pages(database: MigratedDatabase) -> None:
    with database.sessions.begin() as session:
        session.add_all(
            Organization(id=new_id("org"), name=f"org {n}", slug=f"o-{n}") for n in range(10)
        )
    with database.sessions() as session:
        first = paginate(
            session, select(Organization), Organization.id, PageParams(limit=5), lambda o: o.id
        )
    with database.sessions.begin() as session:
        session.add(Organization(id=new_id("org"), name="late", slug="late"))
    with database.sessions() as session:
        second = paginate(
            session,
            select(Organization),
            Organization.id,
            PageParams(limit=5, starting_after=first.next_cursor),
            lambda o: o.id,
        )
    assert not set(first.data) & set(second.data)
    assert len(first.data) + len(second.data) == 10


def test_ending_before_walks_back_to_the_newest(database: MigratedDatabase) -> None:
    with database.sessions.begin() as session:
        session.add_all(
            Organization(id=new_id("org"), name=f"org {n}", slug=f"b-{n}") for n in range(12)
        )
    with database.sessions() as session:
        newest_first = list(
            session.scalars(select(Organization.id).order_by(Organization.id.desc()))
        )
        seen: list[str] = []
        cursor: str | None = newest_first[-1]
        while cursor is not None:
            page = paginate(
                session,
                select(Organization),
                Organization.id,
                PageParams(limit=5, ending_before=cursor),
                lambda o: o.id,
            )
            # Each page is newest first, and lies just before (newer than) the cursor.
            assert page.data == sorted(page.data, reverse=True)
            seen = page.data + seen
            cursor = page.next_cursor
            assert (cursor is None) == (not page.has_more)
    assert seen == newest_first[:-1]
