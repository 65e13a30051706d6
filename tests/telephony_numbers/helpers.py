"""Building queues, agents and numbers straight through the services."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from kallglot.accounts.permissions import Role
from kallglot.core.clock import utcnow
from kallglot.core.ids import new_id
from kallglot.telephony.numbers.models import PhoneNumber
from kallglot.telephony.routing import service
from kallglot.telephony.routing.models import Agent, Queue
from tests.factories import Identity, Org


def member_id(identity: Identity, org: Org, name: str) -> str:
    """A user of ``org`` with the agent role (committed on its own: call before a transaction)."""
    email = f"{name.lower()}-{new_id('x')[-6:].lower()}@example.com"
    return identity.user(org, Role.AGENT, email=email).id


def make_agent(
    db: Session,
    user_id: str,
    org: Org,
    name: str,
    languages: list[str],
    presence: str,
    idle_minutes: int,
    now: datetime | None = None,
) -> Agent:
    now = now or utcnow()
    agent = service.create_agent(db, org.id, user_id, name, languages, now)
    if presence != "offline":
        service.set_presence(db, agent, presence, now)
    agent.idle_since = now - timedelta(minutes=idle_minutes)
    return agent


def make_queue(db: Session, org: Org, agents: list[Agent], overflow: str = "message") -> Queue:
    queue = Queue(
        id=new_id("que"),
        organization_id=org.id,
        name="Support",
        ring_timeout_seconds=20,
        overflow_action=overflow,
        overflow_messages={},
    )
    db.add(queue)
    db.flush()
    service.set_queue_members(db, queue, [agent.id for agent in agents])
    return queue


def make_number(db: Session, org: Org, queue: Queue, e164: str = "+493012345670") -> PhoneNumber:
    number = PhoneNumber(
        id=new_id("num"),
        organization_id=org.id,
        e164=e164,
        country="DE",
        number_type="local",
        carrier="sip_trunk",
        carrier_ref=f"sip:{e164}",
        status="active",
        queue_id=queue.id,
        languages=[],
        monthly_price_cents=0,
        currency="EUR",
    )
    db.add(number)
    db.flush()
    return number
