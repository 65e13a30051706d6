"""``/v1/routing``: queues, agents (human), presence and the agent activity log."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy import select

from kallglot import audit
from kallglot.accounts.dependencies import require
from kallglot.accounts.isolation import get_for_organization
from kallglot.accounts.models import Membership, User
from kallglot.accounts.permissions import Permission
from kallglot.accounts.principal import Principal
from kallglot.core.clock import utcnow
from kallglot.core.errors import NotFoundError
from kallglot.core.ids import new_id
from kallglot.core.schemas import RequestModel, ResponseModel
from kallglot.http.deps import DbSession
from kallglot.http.pagination import Page, Pagination, paginate
from kallglot.telephony.routing import service
from kallglot.telephony.routing.models import Agent, AgentActivity, Queue, QueueMember

router = APIRouter(prefix="/v1/routing", tags=["routing"])
Presence = Literal["offline", "available", "busy", "wrap_up", "away"]
LanguageList = Annotated[list[Annotated[str, Field(pattern=r"^[a-z]{2,3}$")]], Field(max_length=20)]


class QueueIn(RequestModel):
    name: str = Field(min_length=1, max_length=100)
    ring_timeout_seconds: int = Field(default=20, ge=5, le=120)
    overflow_action: Literal["message", "hangup"] = "message"
    overflow_messages: dict[str, Annotated[str, Field(max_length=500)]] = Field(
        default_factory=dict
    )
    agent_ids: list[Annotated[str, Field(pattern=r"^agt_[0-9A-Z]+$")]] = Field(default_factory=list)


class QueueOut(ResponseModel):
    id: str
    object: str = "queue"
    name: str
    ring_timeout_seconds: int
    overflow_action: str
    overflow_messages: dict[str, str]
    agent_ids: list[str] = []


class AgentIn(RequestModel):
    user_id: str = Field(pattern=r"^usr_[0-9A-Z]+$")
    display_name: str = Field(min_length=1, max_length=100)
    languages: LanguageList


class AgentUpdateIn(RequestModel):
    languages: LanguageList


class AgentOut(ResponseModel):
    id: str
    object: str = "agent"
    user_id: str
    display_name: str
    presence: str
    presence_changed_at: datetime
    active_calls: int
    max_concurrent_calls: int
    languages: list[str] = []


class PresenceIn(RequestModel):
    presence: Presence


class ActivityOut(BaseModel):
    id: str
    object: str = "agent_activity"
    agent_id: str
    event: str
    from_state: str | None
    to_state: str | None
    call_id: str | None
    created_at: datetime


def _queue_out(db: DbSession, queue: Queue) -> QueueOut:
    out = QueueOut.model_validate(queue)
    out.agent_ids = list(
        db.scalars(select(QueueMember.agent_id).where(QueueMember.queue_id == queue.id))
    )
    return out


def _agent_out(db: DbSession, agent: Agent) -> AgentOut:
    out = AgentOut.model_validate(agent)
    out.languages = service.languages_of(db, agent.id)
    return out


def _activity_out(entry: AgentActivity) -> ActivityOut:
    return ActivityOut.model_validate(entry, from_attributes=True)


def _own_agent(db: DbSession, principal: Principal) -> Agent:
    agent = (
        db.scalar(
            select(Agent).where(
                Agent.organization_id == principal.organization_id,
                Agent.user_id == principal.user_id,
            )
        )
        if principal.user_id
        else None
    )
    if agent is None:
        raise NotFoundError("You are not set up as an agent.", code="agent_not_found")
    return agent


@router.get("/queues", summary="Queues")
def list_queues(
    principal: Annotated[Principal, require(Permission.ROUTING_READ)],
    db: DbSession,
    page: Pagination,
) -> Page[QueueOut]:
    statement = select(Queue).where(Queue.organization_id == principal.organization_id)
    return paginate(db, statement, Queue.id, page, lambda queue: _queue_out(db, queue))


@router.post("/queues", status_code=201, summary="Create a queue")
def create_queue(
    body: QueueIn,
    principal: Annotated[Principal, require(Permission.ROUTING_MANAGE)],
    db: DbSession,
) -> QueueOut:
    queue = Queue(
        id=new_id("que"),
        organization_id=principal.organization_id,
        name=body.name,
        ring_timeout_seconds=body.ring_timeout_seconds,
        overflow_action=body.overflow_action,
        overflow_messages=body.overflow_messages,
    )
    db.add(queue)
    db.flush()
    for agent_id in body.agent_ids:
        get_for_organization(db, Agent, agent_id, principal.organization_id, what="agent")
    service.set_queue_members(db, queue, body.agent_ids)
    audit.record(
        db,
        principal,
        "queue.created",
        target=("queue", queue.id),
        changes={"agents": len(body.agent_ids)},
    )
    return _queue_out(db, queue)


@router.put("/queues/{queue_id}", summary="Replace a queue's settings and agents")
def replace_queue(
    queue_id: str,
    body: QueueIn,
    principal: Annotated[Principal, require(Permission.ROUTING_MANAGE)],
    db: DbSession,
) -> QueueOut:
    queue = get_for_organization(db, Queue, queue_id, principal.organization_id, what="queue")
    for agent_id in body.agent_ids:
        get_for_organization(db, Agent, agent_id, principal.organization_id, what="agent")
    queue.name = body.name
    queue.ring_timeout_seconds = body.ring_timeout_seconds
    queue.overflow_action = body.overflow_action
    queue.overflow_messages = body.overflow_messages
    service.set_queue_members(db, queue, body.agent_ids)
    audit.record(
        db,
        principal,
        "queue.updated",
        target=("queue", queue.id),
        changes={"agents": len(body.agent_ids)},
    )
    return _queue_out(db, queue)


@router.get("/agents", summary="Agents with their presence")
def list_agents(
    principal: Annotated[Principal, require(Permission.AGENTS_READ)],
    db: DbSession,
    page: Pagination,
) -> Page[AgentOut]:
    statement = select(Agent).where(Agent.organization_id == principal.organization_id)
    return paginate(db, statement, Agent.id, page, lambda agent: _agent_out(db, agent))


@router.post("/agents", status_code=201, summary="Make a member an agent")
def create_agent(
    body: AgentIn,
    principal: Annotated[Principal, require(Permission.ROUTING_MANAGE)],
    db: DbSession,
) -> AgentOut:
    member = db.scalar(
        select(Membership.id)
        .join(User, User.id == Membership.user_id)
        .where(
            Membership.user_id == body.user_id,
            Membership.organization_id == principal.organization_id,
        )
    )
    if member is None:
        raise NotFoundError(
            f"No such member: '{body.user_id}'.", code="member_not_found", param="user_id"
        )
    agent = service.create_agent(
        db, principal.organization_id, body.user_id, body.display_name, body.languages, utcnow()
    )
    audit.record(
        db,
        principal,
        "agent.created",
        target=("agent", agent.id),
        changes={"languages": body.languages},
    )
    return _agent_out(db, agent)


@router.patch("/agents/{agent_id}", summary="Set an agent's languages")
def update_agent(
    agent_id: str,
    body: AgentUpdateIn,
    principal: Annotated[Principal, require(Permission.ROUTING_MANAGE)],
    db: DbSession,
) -> AgentOut:
    agent = get_for_organization(db, Agent, agent_id, principal.organization_id, what="agent")
    service.set_languages(db, agent, body.languages)
    audit.record(
        db,
        principal,
        "agent.updated",
        target=("agent", agent.id),
        changes={"languages": body.languages},
    )
    return _agent_out(db, agent)


@router.put("/me/presence", summary="Set your own presence")
def set_my_presence(
    body: PresenceIn,
    principal: Annotated[Principal, require(Permission.PRESENCE_WRITE)],
    db: DbSession,
) -> AgentOut:
    agent = _own_agent(db, principal)
    service.set_presence(db, agent, body.presence, utcnow())
    return _agent_out(db, agent)


@router.get("/me/activity", summary="Your own activity log")
def my_activity(
    principal: Annotated[Principal, require(Permission.PRESENCE_WRITE)],
    db: DbSession,
    page: Pagination,
) -> Page[ActivityOut]:
    # A member who is not an agent has an empty log.
    own = select(Agent.id).where(
        Agent.organization_id == principal.organization_id, Agent.user_id == principal.user_id
    )
    statement = select(AgentActivity).where(AgentActivity.agent_id.in_(own))
    return paginate(db, statement, AgentActivity.id, page, _activity_out)


@router.get("/agents/{agent_id}/activity", summary="An agent's activity log (supervisors)")
def agent_activity(
    agent_id: str,
    principal: Annotated[Principal, require(Permission.ROUTING_READ)],
    db: DbSession,
    page: Pagination,
) -> Page[ActivityOut]:
    agent = get_for_organization(db, Agent, agent_id, principal.organization_id, what="agent")
    statement = select(AgentActivity).where(AgentActivity.agent_id == agent.id)
    return paginate(db, statement, AgentActivity.id, page, _activity_out)
