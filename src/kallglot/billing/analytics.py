"""Organization analytics: minutes per day, calls per language pair, direction and number,
latency, agent activity.

Every query is scoped to one organization; nothing here reads another's rows. Sessions with
a party who restricted processing or objected to analytics, and such agents' activity, are
left out (:mod:`kallglot.privacy.processing`); billing usage (``kallglot.billing.metering``)
still counts them, as invoices must.
"""

from __future__ import annotations

import csv
import io
import math
from collections import Counter, defaultdict
from datetime import date, datetime
from statistics import fmean, quantiles

from sqlalchemy import select
from sqlalchemy.orm import Session

from kallglot.billing.metering import billable_minutes
from kallglot.privacy.processing import excluded_call_records, excluded_sessions, limited_refs
from kallglot.privacy.requests import Purpose
from kallglot.realtime.models import CallSession, UtteranceTiming
from kallglot.telephony.calls.models import CallRecord
from kallglot.telephony.numbers.models import PhoneNumber
from kallglot.telephony.routing.models import Agent, AgentActivity


def minutes_by_day(
    db: Session, organization_id: str, since: datetime, until: datetime
) -> list[dict[str, object]]:
    excluded = excluded_sessions(db, organization_id, Purpose.ANALYTICS)
    calls = db.scalars(
        select(CallSession).where(
            CallSession.organization_id == organization_id,
            CallSession.started_at >= since,
            CallSession.started_at < until,
            CallSession.id.not_in(excluded),
        )
    )
    days: dict[date, list[int]] = defaultdict(lambda: [0, 0])
    for call in calls:
        assert call.started_at is not None
        entry = days[call.started_at.date()]
        entry[0] += 1
        entry[1] += billable_minutes(call)
    return [
        {"day": day.isoformat(), "sessions": count, "minutes": minutes}
        for day, (count, minutes) in sorted(days.items())
    ]


def minutes_csv(rows: list[dict[str, object]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=["day", "sessions", "minutes"])
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def calls_by_language_pair(
    db: Session, organization_id: str, since: datetime, until: datetime
) -> list[dict[str, object]]:
    excluded = excluded_sessions(db, organization_id, Purpose.ANALYTICS)
    pairs = Counter(
        f"{source or 'auto'}-{target or 'auto'}"
        for source, target in db.execute(
            select(CallSession.source_language, CallSession.target_language).where(
                CallSession.organization_id == organization_id,
                CallSession.created_at >= since,
                CallSession.created_at < until,
                CallSession.id.not_in(excluded),
            )
        )
    )
    return [{"language_pair": pair, "calls": count} for pair, count in pairs.most_common()]


MISSED_OUTCOMES = frozenset({"missed", "abandoned", "overflow_message", "overflow_hangup"})


def _call_records(
    db: Session, organization_id: str, since: datetime, until: datetime
) -> list[CallRecord]:
    """The organization's call records started in the window, limited subjects left out."""
    excluded = excluded_call_records(db, organization_id, Purpose.ANALYTICS)
    return list(
        db.scalars(
            select(CallRecord).where(
                CallRecord.organization_id == organization_id,
                CallRecord.started_at >= since,
                CallRecord.started_at < until,
                CallRecord.id.not_in(excluded),
            )
        )
    )


def _call_counts(records: list[CallRecord]) -> dict[str, int]:
    return {
        "calls": len(records),
        "answered": sum(record.answered_at is not None for record in records),
        "missed": sum(record.outcome in MISSED_OUTCOMES for record in records),
        # Whole minutes per call, rounded up, as billing rounds.
        "minutes": sum(math.ceil((record.duration_seconds or 0) / 60) for record in records),
    }


def calls_by_direction(
    db: Session, organization_id: str, since: datetime, until: datetime
) -> list[dict[str, object]]:
    """Inbound and outbound calls: how many, answered, missed, and their minutes."""
    grouped: dict[str, list[CallRecord]] = {"inbound": [], "outbound": []}
    for record in _call_records(db, organization_id, since, until):
        grouped.setdefault(record.direction, []).append(record)
    return [
        {"direction": direction, **_call_counts(records)}
        for direction, records in sorted(grouped.items())
    ]


def calls_by_number(
    db: Session, organization_id: str, since: datetime, until: datetime
) -> list[dict[str, object]]:
    """Per phone number of the organization: calls in and out, answered, missed, minutes."""
    numbers = {
        number.id: number.e164
        for number in db.scalars(
            select(PhoneNumber).where(PhoneNumber.organization_id == organization_id)
        )
    }
    grouped: dict[str | None, list[CallRecord]] = {number_id: [] for number_id in numbers}
    for record in _call_records(db, organization_id, since, until):
        grouped.setdefault(record.number_id, []).append(record)
    rows: list[dict[str, object]] = []
    for number_id, records in grouped.items():
        if number_id is None and not records:
            continue
        rows.append(
            {
                "number_id": number_id,
                "e164": numbers.get(number_id) if number_id else None,
                "inbound": sum(record.direction == "inbound" for record in records),
                "outbound": sum(record.direction == "outbound" for record in records),
                **_call_counts(records),
            }
        )
    return sorted(rows, key=lambda row: (-int(str(row["calls"])), str(row["number_id"])))


def latency(
    db: Session, organization_id: str, since: datetime, until: datetime
) -> dict[str, float | int | None]:
    """Average and p95 of end of speech → first translated audio, in ms."""
    excluded = excluded_sessions(db, organization_id, Purpose.ANALYTICS)
    values = [
        float(ms)
        for ms in db.scalars(
            select(UtteranceTiming.first_audio_ms).where(
                UtteranceTiming.organization_id == organization_id,
                UtteranceTiming.session_id.not_in(excluded),
                UtteranceTiming.speech_ended_at >= since,
                UtteranceTiming.speech_ended_at < until,
                UtteranceTiming.first_audio_ms.is_not(None),
            )
        )
        if ms is not None
    ]
    if not values:
        return {"utterances": 0, "average_ms": None, "p95_ms": None}
    p95 = values[0] if len(values) == 1 else quantiles(values, n=100, method="inclusive")[94]
    return {"utterances": len(values), "average_ms": round(fmean(values), 1), "p95_ms": p95}


def agent_activity(
    db: Session, organization_id: str, since: datetime, until: datetime
) -> list[dict[str, object]]:
    """Per agent: calls answered and missed, and time online (presence other than offline)."""
    limited = limited_refs(db, organization_id, Purpose.ANALYTICS)
    agents = {
        agent.id: agent.display_name
        for agent in db.scalars(select(Agent).where(Agent.organization_id == organization_id))
        if agent.user_id not in limited
    }
    rows = db.scalars(
        select(AgentActivity)
        .where(
            AgentActivity.organization_id == organization_id,
            AgentActivity.created_at >= since,
            AgentActivity.created_at < until,
        )
        .order_by(AgentActivity.created_at, AgentActivity.id)
    )
    stats = {agent_id: {"answered": 0, "missed": 0, "online_seconds": 0.0} for agent_id in agents}
    online_since: dict[str, datetime] = {}
    for row in rows:
        if row.agent_id not in agents:
            continue  # the agent restricted processing or objected to analytics
        entry = stats.setdefault(row.agent_id, {"answered": 0, "missed": 0, "online_seconds": 0.0})
        if row.event == "call_answered":
            entry["answered"] += 1
        elif row.event == "call_missed":
            entry["missed"] += 1
        elif row.event == "state_changed" and row.to_state is not None:
            started = online_since.pop(row.agent_id, None)
            if started is not None:
                entry["online_seconds"] += (row.created_at - started).total_seconds()
            if row.to_state != "offline":
                online_since[row.agent_id] = row.created_at
    for agent_id, started in online_since.items():
        stats[agent_id]["online_seconds"] += (until - started).total_seconds()
    return [
        {
            "agent_id": agent_id,
            "display_name": agents.get(agent_id),
            "calls_answered": int(entry["answered"]),
            "calls_missed": int(entry["missed"]),
            "online_seconds": round(entry["online_seconds"]),
        }
        for agent_id, entry in sorted(stats.items())
    ]
