"""``kallglot demo seed``: the demo organization, ready for a browser session and a phone call."""

from __future__ import annotations

import typer
from sqlalchemy import select
from sqlalchemy.orm import Session

from kallglot.cli import billing as billing_cli
from kallglot.cli import identity
from kallglot.cli.common import cli_transaction, settings_or_exit
from kallglot.core.settings import Settings

demo_app = typer.Typer(help="The demo organization.", no_args_is_help=True)

# Ofcom keeps 020 7946 0000-0999 for drama: never a real subscriber's number.
DEMO_NUMBER = "+442079460100"
DEMO_QUEUE = "Demo line"


def register(app: typer.Typer) -> None:
    app.add_typer(demo_app, name="demo")


@demo_app.command("seed")
def demo_seed() -> None:
    """Create the demo organization, its accounts, credit and a routed SIP number (idempotent)."""
    settings = settings_or_exit()
    identity.seed_demo(settings)
    billing_cli.seed_demo_credit(settings)
    if settings.env != "production":
        with cli_transaction(settings) as db:
            number = seed_demo_line(db)
        typer.echo(f"demo number {number} (SIP) rings the demo agent ({DEMO_QUEUE} queue)")


def seed_demo_line(db: Session) -> str:
    """A number on the local SIP gateway → a queue → the demo agent as its routing agent."""
    from kallglot.accounts.demo import DEMO_AGENT_EMAIL, seed_demo_organization
    from kallglot.accounts.organizations import find_user_by_email
    from kallglot.core.clock import utcnow
    from kallglot.core.ids import new_id
    from kallglot.telephony.carriers.sip_trunk import SipTrunkCarrier
    from kallglot.telephony.numbers import service as numbers
    from kallglot.telephony.routing import service as routing
    from kallglot.telephony.routing.models import Agent, Queue

    now = utcnow()
    organization = seed_demo_organization(db)
    user = find_user_by_email(db, DEMO_AGENT_EMAIL)
    assert user is not None, "the demo accounts are seeded first"
    agent = db.scalar(
        select(Agent).where(Agent.organization_id == organization.id, Agent.user_id == user.id)
    )
    if agent is None:
        agent = routing.create_agent(db, organization.id, user.id, "Demo Agent", ["en"], now)
    queue = db.scalar(
        select(Queue).where(Queue.organization_id == organization.id, Queue.name == DEMO_QUEUE)
    )
    if queue is None:
        queue = Queue(
            id=new_id("que"),
            organization_id=organization.id,
            name=DEMO_QUEUE,
            ring_timeout_seconds=30,
            overflow_action="message",
            overflow_messages={},
        )
        db.add(queue)
        db.flush()
        routing.set_queue_members(db, queue, [agent.id])
    number = numbers.active_number(db, DEMO_NUMBER)
    if number is None:
        number = numbers.order(
            db,
            organization.id,
            SipTrunkCarrier(),
            e164=DEMO_NUMBER,
            country="GB",
            number_type="local",
            bundle_id=None,
            voice_url="",
            monthly_price_cents=0,
            currency="EUR",
            now=now,
        )
    if number.organization_id == organization.id and number.queue_id is None:
        number.queue_id = queue.id
    return number.e164


def demo_sip_address(settings: Settings, sip_port: int) -> str | None:
    """``sip:<demo number>@host:port`` when the demo line exists on this database."""
    from sqlalchemy.exc import SQLAlchemyError

    from kallglot.db.engine import database_transaction
    from kallglot.telephony.numbers import service as numbers

    if settings.sip_listen is None:
        return None
    host = settings.sip_listen.split(":")[1]
    try:
        with database_transaction(settings.effective_database_url) as db:
            exists = numbers.active_number(db, DEMO_NUMBER) is not None
    except SQLAlchemyError:
        return None
    return f"sip:{DEMO_NUMBER}@{host}:{sip_port}" if exists else None
