"""The SIP gateway on a real UDP socket of a live server, driven by a hand-written UAC:
answering into sessions, CANCEL, BYE from either side, re-INVITE/hold, OPTIONS, DTMF,
and the proper error answers. Nothing of a call may be left in the gateway afterwards."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from dataclasses import replace

import httpx
import pytest
from sqlalchemy import select

from kallglot.api.app import create_app
from kallglot.core.settings import Settings
from kallglot.realtime.models import CallSession
from kallglot.telephony.calls.models import CallRecord
from kallglot.telephony.sip import SipGateway
from kallglot.telephony.sip import message as sip
from kallglot.telephony.sip.auth import DigestAuthenticator, digest_response, parse_authorization
from kallglot.telephony.sip.message import uri_parts
from tests.conftest import MigratedDatabase
from tests.factories import Identity, Org
from tests.realtime.conftest import LiveServer, new_session, serving
from tests.support.waiting import wait_until
from tests.telephony.sip_peer import Call, Peer, offer
from tests.telephony_numbers.helpers import make_agent, make_number, make_queue, member_id

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "sip_listen": "udp:127.0.0.1:0",
            "sip_rtp_port_min": 40000,
            "sip_rtp_port_max": 44999,
            "telephony_media_idle_seconds": 60.0,  # the silence test sets its own
        }
    )


@pytest.fixture
def gateway(live_server: LiveServer) -> SipGateway:
    gateway: SipGateway | None = live_server.app.state.sip_gateway
    assert gateway is not None
    return gateway


@pytest.fixture
def peer(gateway: SipGateway) -> Iterator[Peer]:
    with Peer(gateway.port) as client:
        yield client


@pytest.fixture
def org(identity: Identity) -> Org:
    return identity.organization()


def sip_session(database: MigratedDatabase, org: Org) -> str:
    session_id, _ = new_session(
        database,
        org.id,
        mode="bidirectional_translation",
        routing={"type": "sip"},
        source_language="en",
        target_language="es",
    )
    return session_id


def status_of(database: MigratedDatabase, session_id: str) -> str:
    with database.sessions() as db:
        return db.scalars(select(CallSession.status).where(CallSession.id == session_id)).one()


def assert_nothing_left(gateway: SipGateway) -> None:
    wait_until(lambda: not gateway.dialogs and not gateway.pending)
    assert gateway.open_rtp_streams == 0


def sdp_port(body: bytes) -> int:
    line = next(line for line in body.decode().splitlines() if line.startswith("m=audio"))
    return int(line.split()[1])


def test_options_is_answered_with_what_the_gateway_allows(peer: Peer) -> None:
    peer.request(Call("kallglot"), "OPTIONS")
    response = peer.final("OPTIONS")
    assert response.status == 200
    assert "INVITE" in (response.get("Allow") or "")
    assert response.get("Accept") == "application/sdp"


def test_a_sip_session_is_joined_held_resumed_and_hung_up_by_the_caller(
    peer: Peer, gateway: SipGateway, database: MigratedDatabase, org: Org, live_server: LiveServer
) -> None:
    session_id = sip_session(database, org)
    call = Call(session_id)
    record_route = "<sip:127.0.0.1:5999;lr>"
    response = peer.invite(call, offer(peer.rtp_port), extra=f"Record-Route: {record_route}\r\n")
    assert response.status == 200, response.reason
    assert response.get_all("Record-Route") == [record_route]
    assert uri_parts(response.require("Contact").strip("<>")).user == session_id
    answer = response.body.decode()
    assert "m=audio" in answer and " RTP/AVP 0 101" in answer and "a=sendrecv" in answer
    peer.ack(call, response)
    wait_until(lambda: status_of(database, session_id) in ("connecting", "active"))
    assert len(gateway.dialogs) == 1

    # DTMF (RFC 4733) reaches the session once per key press
    peer.send_dtmf(sdp_port(response.body), digit_event=5, timestamp=8000)
    dialog = next(iter(gateway.dialogs.values()))
    wait_until(lambda: dialog.rtp.dtmf_received == ["5"])

    # hold (sendonly) and resume (sendrecv) through re-INVITEs
    call.cseq += 1
    held = offer(peer.rtp_port, media="m=audio {port} RTP/AVP 0\r\na=sendonly\r\n")
    peer.request(call, "INVITE", held)
    response = peer.final("INVITE")
    assert response.status == 200 and "a=recvonly" in response.body.decode()
    peer.ack(call, response)
    assert dialog.rtp.negotiated is not None and dialog.rtp.negotiated.on_hold
    call.cseq += 1
    peer.request(call, "INVITE", offer(peer.rtp_port))
    response = peer.final("INVITE")
    assert response.status == 200 and "a=sendrecv" in response.body.decode()
    peer.ack(call, response)
    assert not dialog.rtp.negotiated.on_hold

    call.cseq += 1
    peer.request(call, "BYE")
    assert peer.final("BYE").status == 200
    assert_nothing_left(gateway)
    wait_until(lambda: status_of(database, session_id) == "ended")


def test_a_session_ended_by_the_api_hangs_up_the_caller_with_a_bye(
    peer: Peer,
    gateway: SipGateway,
    database: MigratedDatabase,
    org: Org,
    identity: Identity,
    live_server: LiveServer,
) -> None:
    session_id = sip_session(database, org)
    call = Call(session_id)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as proxy:
        # A proxy recorded the route: the gateway's BYE must go through it (loose routing).
        proxy.bind(("127.0.0.1", 0))
        proxy.settimeout(10)
        route = f"<sip:127.0.0.1:{proxy.getsockname()[1]};lr>"
        response = peer.invite(call, offer(peer.rtp_port), extra=f"Record-Route: {route}\r\n")
        assert response.status == 200
        peer.ack(call, response)
        key = identity.api_key(org)
        ended = httpx.post(
            f"{live_server.base_url}/v1/sessions/{session_id}/end",
            headers={"Authorization": f"Bearer {key.secret}"},
            timeout=30,
        )
        assert ended.status_code == 200, ended.text
        data = proxy.recvfrom(65535)[0]
        bye = sip.parse(data)
        assert bye.method == "BYE" and bye.call_id == call.call_id
        assert bye.get_all("Route") == [route]
        assert bye.uri == f"sip:peer@127.0.0.1:{peer.port}"  # the phone's Contact
        assert bye.from_tag == call.to_tag and bye.to_tag == call.from_tag
        proxy.sendto(data, ("127.0.0.1", peer.port))  # the proxy forwards it to the phone
    assert peer.next_message().method == "BYE"
    peer.answer(bye)  # the 200 goes back by the Via: to the gateway
    assert_nothing_left(gateway)


def test_a_cancelled_invite_is_terminated_and_leaves_nothing(
    peer: Peer, gateway: SipGateway, database: MigratedDatabase, org: Org
) -> None:
    session_id = sip_session(database, org)
    call = Call(session_id)
    call.invite_branch = peer.request(call, "INVITE", offer(peer.rtp_port))
    peer.request(call, "CANCEL", branch=call.invite_branch)
    assert peer.final("CANCEL").status == 200
    response = peer.final("INVITE")
    assert response.status == 487
    peer.ack(call, response)
    assert_nothing_left(gateway)
    # the session was not ended: the caller can try again
    assert status_of(database, session_id) != "ended"
    again = Call(session_id)
    response = peer.invite(again, offer(peer.rtp_port))
    assert response.status == 200
    peer.ack(again, response)
    again.cseq += 1
    peer.request(again, "BYE")
    assert peer.final("BYE").status == 200
    assert_nothing_left(gateway)


def test_a_call_to_a_staffed_number_creates_a_session(
    peer: Peer, gateway: SipGateway, database: MigratedDatabase, identity: Identity, org: Org
) -> None:
    with database.sessions.begin() as db:
        agent = make_agent(
            db, member_id(identity, org, "Anna"), org, "Anna", ["en"], "available", 5
        )
        make_number(db, org, make_queue(db, org, [agent]), e164="+493012345670")
    call = Call("+493012345670")
    response = peer.invite(call, offer(peer.rtp_port))
    assert response.status == 200, response.reason
    peer.ack(call, response)
    with database.sessions() as db:
        record = db.scalars(select(CallRecord)).one()
        assert record.session_id is not None
        assert db.get(CallSession, record.session_id).provider == "sip"  # type: ignore[union-attr]
    call.cseq += 1
    peer.request(call, "BYE")
    assert peer.final("BYE").status == 200
    assert_nothing_left(gateway)


@pytest.mark.parametrize(
    ("user", "media", "status"),
    [
        ("+493099999999", None, 404),  # nobody's number
        ("sess_01ARZ3NDEKTSV4RRFFQ69G5FAV", None, 404),  # no such session
        ("someone", None, 404),
        ("+493099999999", "m=audio {port} RTP/AVP 18\r\n", 488),  # G.729 only: no common codec
    ],
)
def test_calls_that_cannot_be_answered_get_the_proper_status(
    peer: Peer, gateway: SipGateway, user: str, media: str | None, status: int
) -> None:
    call = Call(user)
    body = offer(peer.rtp_port) if media is None else offer(peer.rtp_port, media=media)
    response = peer.invite(call, body)
    assert response.status == status
    peer.ack(call, response)
    assert_nothing_left(gateway)


def test_a_session_not_created_for_sip_or_already_joined_is_refused(
    peer: Peer, gateway: SipGateway, database: MigratedDatabase, org: Org
) -> None:
    plain, _ = new_session(database, org.id, mode="transcription")
    assert peer.invite(Call(plain), offer(peer.rtp_port)).status == 403

    session_id = sip_session(database, org)
    first = Call(session_id)
    response = peer.invite(first, offer(peer.rtp_port))
    assert response.status == 200
    peer.ack(first, response)
    assert peer.invite(Call(session_id), offer(peer.rtp_port)).status == 486
    first.cseq += 1
    peer.request(first, "BYE")
    assert peer.final("BYE").status == 200
    assert_nothing_left(gateway)


def test_malformed_requests_and_unknown_dialogs_are_answered(
    peer: Peer, gateway: SipGateway
) -> None:
    call = Call("kallglot")
    peer.request(call, "INVITE", body="", extra="Content-Length: 500\r\n")
    # two Content-Length headers: the first (500) is wrong for the body
    assert peer.final("INVITE").status == 400
    peer.send(b"\x00\x01garbage that is not SIP\r\n\r\n")
    call = Call("kallglot")
    call.to_tag = "nosuchdialog"
    peer.request(call, "BYE")
    assert peer.final("BYE").status == 481
    peer.request(Call("kallglot"), "MESSAGE")
    assert peer.final("MESSAGE").status == 405
    assert_nothing_left(gateway)


@pytest.mark.parametrize(
    ("extra", "status", "header"),
    [
        ("Require: 100rel\r\n", 420, "Unsupported"),  # reliable provisionals: not offered
        ("Session-Expires: 30\r\n", 422, "Min-SE"),  # below RFC 4028's minimum
    ],
)
def test_extensions_we_do_not_do_are_refused_before_any_work(
    peer: Peer,
    gateway: SipGateway,
    database: MigratedDatabase,
    org: Org,
    extra: str,
    status: int,
    header: str,
) -> None:
    call = Call(sip_session(database, org))
    response = peer.invite(call, offer(peer.rtp_port), extra=extra)
    assert response.status == status and response.get(header)
    peer.ack(call, response)
    assert_nothing_left(gateway)


def test_a_session_timer_asked_for_is_granted_with_the_caller_refreshing(
    peer: Peer, gateway: SipGateway, database: MigratedDatabase, org: Org
) -> None:
    call = Call(sip_session(database, org))
    response = peer.invite(
        call, offer(peer.rtp_port), extra="Supported: timer\r\nSession-Expires: 120\r\n"
    )
    assert response.status == 200
    assert response.get("Session-Expires") == "120;refresher=uac"
    assert response.get("Require") == "timer"
    peer.ack(call, response)
    call.cseq += 1
    peer.request(call, "UPDATE", extra="Session-Expires: 120\r\n")  # the refresh
    refreshed = peer.final("UPDATE")
    assert refreshed.status == 200 and refreshed.body == b""  # no offer, so no answer
    assert refreshed.get("Session-Expires") == "120;refresher=uac"
    call.cseq += 1
    peer.request(call, "BYE")
    assert peer.final("BYE").status == 200
    assert_nothing_left(gateway)


def test_invites_from_outside_the_trusted_networks_are_forbidden(
    peer: Peer, gateway: SipGateway, database: MigratedDatabase, org: Org
) -> None:
    trusted = gateway.config
    gateway.config = replace(trusted, trusted_networks=(ipaddress.ip_network("10.0.0.0/8"),))
    try:
        response = peer.invite(Call(sip_session(database, org)), offer(peer.rtp_port))
    finally:
        gateway.config = trusted
    assert response.status == 403
    assert_nothing_left(gateway)


def test_a_caller_that_stops_sending_rtp_is_hung_up_and_its_call_ended(
    peer: Peer, gateway: SipGateway, database: MigratedDatabase, org: Org
) -> None:
    patient = gateway.config
    gateway.config = replace(patient, media_idle_s=1.0)
    try:
        session_id = sip_session(database, org)
        call = Call(session_id)
        response = peer.invite(call, offer(peer.rtp_port))
        assert response.status == 200
        peer.ack(call, response)
        bye = peer.next_message(timeout=10)  # no RTP at all from this peer
    finally:
        gateway.config = patient
    assert bye.method == "BYE"
    peer.answer(bye)
    assert_nothing_left(gateway)
    wait_until(lambda: status_of(database, session_id) == "ended")
    with database.sessions() as db:
        assert db.get(CallSession, session_id).end_reason == "timeout"  # type: ignore[union-attr]


def test_a_node_shutting_down_hangs_up_its_calls(
    settings: Settings, database: MigratedDatabase, org: Org
) -> None:
    app = create_app(settings)
    session_id = sip_session(database, org)
    try:
        with Peer(0) as peer:
            with serving(app):
                gateway: SipGateway = app.state.sip_gateway
                peer.gateway = ("127.0.0.1", gateway.port)
                call = Call(session_id)
                response = peer.invite(call, offer(peer.rtp_port))
                assert response.status == 200
                peer.ack(call, response)
            # the app has shut down; its BYE waits in the phone's socket
            bye = peer.next_message(timeout=5)
            assert bye.method == "BYE" and bye.call_id == call.call_id
    finally:
        app.state.engine.dispose()
    assert not gateway.dialogs and gateway.open_rtp_streams == 0
    with database.sessions() as db:
        stored = db.get(CallSession, session_id)
        assert stored is not None and stored.status == "ended"
        assert stored.end_reason == "shutdown"


def test_with_credentials_configured_an_invite_must_answer_the_digest_challenge(
    peer: Peer, gateway: SipGateway, database: MigratedDatabase, org: Org
) -> None:
    open_gateway = gateway.config
    gateway.config = replace(
        open_gateway, digest=DigestAuthenticator.create("pbx", "s3cret", "127.0.0.1")
    )
    try:
        session_id = sip_session(database, org)
        call = Call(session_id)
        challenged = peer.invite(call, offer(peer.rtp_port))
        assert challenged.status == 401
        peer.ack(call, challenged)
        params = parse_authorization(challenged.require("WWW-Authenticate"))
        assert params["realm"] == "127.0.0.1" and params["qop"] == "auth"

        def authorization(password: str) -> str:
            uri = f"sip:{session_id}@127.0.0.1:{gateway.port}"
            response = digest_response(
                "pbx",
                "127.0.0.1",
                password,
                "INVITE",
                uri,
                params["nonce"],
                "auth",
                "00000001",
                "c0ffee",
            )
            return (
                'Authorization: Digest username="pbx", realm="127.0.0.1", '
                f'nonce="{params["nonce"]}", '
                f'uri="{uri}", response="{response}", algorithm=MD5, qop=auth, nc=00000001, '
                'cnonce="c0ffee"\r\n'
            )

        call.cseq, call.to_tag = 2, ""
        refused = peer.invite(call, offer(peer.rtp_port), extra=authorization("guess"))
        assert refused.status == 403
        peer.ack(call, refused)
        call.cseq, call.to_tag = 3, ""
        answered = peer.invite(call, offer(peer.rtp_port), extra=authorization("s3cret"))
        assert answered.status == 200
        peer.ack(call, answered)
        call.cseq += 1
        peer.request(call, "BYE")  # in-dialog requests are not challenged
        assert peer.final("BYE").status == 200
    finally:
        gateway.config = open_gateway
    assert_nothing_left(gateway)
