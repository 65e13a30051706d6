"""The demo organization that ``make run`` seeds so the product can be tried at once."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from kallglot.accounts.models import Organization
from kallglot.core.ids import new_id

DEMO_SLUG = "demo"


def seed_demo_organization(session: Session) -> Organization:
    """Create the demo organization unless it exists (safe to run on every start)."""
    existing = session.scalar(select(Organization).where(Organization.slug == DEMO_SLUG))
    if existing is not None:
        return existing
    organization = Organization(
        id=new_id("org"), name="Demo Contact Centre", slug=DEMO_SLUG, is_demo=True
    )
    session.add(organization)
    session.flush()
    return organization
