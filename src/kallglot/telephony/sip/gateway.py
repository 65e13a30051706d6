"""The SIP user agent server (RFC 3261 over UDP): answers calls into sessions.

One :class:`SipGateway` per node listens on ``KALLGLOT_SIP_LISTEN``. An INVITE becomes a
dialog whose caller leg joins the session (:class:`kallglot.telephony.leg.Leg`) and whose
media is an :class:`~kallglot.telephony.sip.rtp.RtpStream`. Server transactions are
kept just long enough to answer retransmissions; our 2xx to INVITE is retransmitted
until the ACK comes (§13.3.1.4), our BYE until it is answered (§17.1.2).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import logging
from collections.abc import Coroutine
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from kallglot.core.errors import KallglotError, ServiceUnavailableError
from kallglot.realtime.hub import RealtimeHub
from kallglot.realtime.models import CallSession
from kallglot.realtime.player import OutputChunk
from kallglot.realtime.protocol import AudioEncoding, Party, ProtocolError
from kallglot.realtime.runtime import AudioSink, Send
from kallglot.telephony.leg import Leg
from kallglot.telephony.sip import message as sip
from kallglot.telephony.sip import sdp
from kallglot.telephony.sip.auth import DigestAuthenticator, Verdict
from kallglot.telephony.sip.message import SipMessage, SipParseError
from kallglot.telephony.sip.routing import Rejection, Target, has_caller, resolve
from kallglot.telephony.sip.rtp import OnAudio, OnDtmf, RtpPortsExhausted, RtpStream

logger = logging.getLogger(__name__)

T1 = 0.5  # RFC 3261 timer values (seconds)
T2 = 4.0
TRANSACTION_S = 64 * T1
ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE"
SUPPORTED = "timer"
MIN_SESSION_EXPIRES = 90
SHUTDOWN_GRACE_S = 2.0


class CallerPresent(Exception):
    """The session already has its caller (SIP answers 486)."""


@dataclass(frozen=True)
class GatewayConfig:
    host: str
    port: int
    public_host: str
    rtp_port_min: int
    rtp_port_max: int
    trusted_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
    token_ttl: timedelta
    session_expires_s: int
    media_idle_s: float
    digest: DigestAuthenticator | None = None

    @classmethod
    def from_settings(cls, settings: Any) -> GatewayConfig:
        scheme, host, port = str(settings.sip_listen).split(":")
        if scheme != "udp":
            raise ValueError("KALLGLOT_SIP_LISTEN takes udp:HOST:PORT")
        if (settings.sip_digest_username is None) != (settings.sip_digest_password is None):
            raise ValueError("set both KALLGLOT_SIP_DIGEST_USERNAME and _PASSWORD, or neither")
        digest = None
        if settings.sip_digest_username is not None:
            digest = DigestAuthenticator.create(
                settings.sip_digest_username,
                settings.sip_digest_password.get_secret_value(),
                realm=settings.sip_public_host or host,
            )
        if settings.sip_rtp_port_min > settings.sip_rtp_port_max:
            raise ValueError("KALLGLOT_SIP_RTP_PORT_MIN is above KALLGLOT_SIP_RTP_PORT_MAX")
        return cls(
            host=host,
            port=int(port),
            public_host=settings.sip_public_host or host,
            rtp_port_min=settings.sip_rtp_port_min,
            rtp_port_max=settings.sip_rtp_port_max,
            trusted_networks=tuple(
                ipaddress.ip_network(network, strict=False)
                for network in settings.sip_trusted_networks
            ),
            token_ttl=settings.stream_token_ttl,
            session_expires_s=settings.sip_session_expires_seconds,
            media_idle_s=settings.telephony_media_idle_seconds,
            digest=digest,
        )


@dataclass
class PendingInvite:
    """An INVITE being answered (routing, media): a CANCEL may still stop it."""

    request: SipMessage
    source: tuple[str, int]
    to_tag: str
    cancelled: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class Dialog:
    call_id: str
    local_tag: str
    invite: SipMessage
    source: tuple[str, int]
    remote_target: str
    route_set: list[str]
    local_party: str  # our To header, with our tag: the From of requests we send
    remote_party: str
    session_id: str
    rtp: RtpStream
    leg: Leg | None = None
    local_cseq: int = 1
    sdp_version: int = 1
    session_expires_s: int | None = None
    acked: asyncio.Event = field(default_factory=asyncio.Event)
    refreshed: asyncio.Event = field(default_factory=asyncio.Event)
    ended: bool = False
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def key(self) -> tuple[str, str]:
        return (self.call_id, self.local_tag)


@dataclass
class _CachedResponse:
    data: bytes
    destination: tuple[str, int]
    expires_at: float


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, gateway: SipGateway) -> None:
        self.gateway = gateway

    def datagram_received(self, data: bytes, addr: tuple[str | bytes, int]) -> None:
        self.gateway.received(data, (str(addr[0]), addr[1]))

    def error_received(self, exc: Exception) -> None:
        logger.debug("SIP socket error: %s", exc)


class SipGateway:
    def __init__(self, hub: RealtimeHub, config: GatewayConfig) -> None:
        self.hub = hub
        self.config = config
        self.dialogs: dict[tuple[str, str], Dialog] = {}
        self.pending: dict[str, PendingInvite] = {}  # by the INVITE's branch
        self._responses: dict[tuple[str, str], _CachedResponse] = {}
        self._client_transactions: dict[str, asyncio.Event] = {}
        self._transport: asyncio.DatagramTransport | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._joining: set[str] = set()
        self._streams: set[RtpStream] = set()
        self.calls_answered = 0

    # Lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._transport, _ = await loop.create_datagram_endpoint(
            lambda: _Protocol(self), local_addr=(self.config.host, self.config.port)
        )
        sockname = self._transport.get_extra_info("sockname")
        self.config = replace(self.config, port=int(sockname[1]))  # port 0: the one bound
        logger.info("SIP gateway listening on udp:%s:%d", self.config.host, self.config.port)

    @property
    def port(self) -> int:
        return self.config.port

    @property
    def open_rtp_streams(self) -> int:
        """RTP sockets still open (of a call, or of an INVITE being answered)."""
        self._streams = {stream for stream in self._streams if not stream.closed}
        return len(self._streams)

    async def stop(self) -> None:
        """Hang up every call (BYE, session ended) and close the socket."""
        await asyncio.gather(
            *(
                self._teardown(dialog, "shutdown", send_bye=True)
                for dialog in list(self.dialogs.values())
            )
        )
        for pending in list(self.pending.values()):
            pending.cancelled.set()
        if self._tasks:  # let the BYEs go out and the answers in flight finish, briefly
            await asyncio.wait(list(self._tasks), timeout=SHUTDOWN_GRACE_S)
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for stream in list(self._streams):  # whatever a cancelled task left open
            await stream.close()
        self._streams.clear()
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("SIP task failed", exc_info=task.exception())

    # Receiving ------------------------------------------------------------------------------
    def received(self, data: bytes, source: tuple[str, int]) -> None:
        if not data.strip():
            return  # CRLF keep-alive (RFC 5626)
        try:
            message = sip.parse(data)
        except SipParseError as exc:
            logger.info("malformed SIP message from %s: %s", source[0], exc)
            if exc.partial is not None and exc.partial.is_request and exc.partial.method != "ACK":
                self._respond(exc.partial, source, 400, "Bad Request")
            return
        if not message.is_request:
            self._response_received(message)
            return
        self._expire_responses()
        cached = self._responses.get((message.branch, message.method))
        if cached is not None and message.method != "ACK":  # a retransmission
            self._sendto(cached.data, cached.destination)
            return
        if message.method == "INVITE" and message.branch in self.pending:
            self._respond(message, source, 100, "Trying")
            return
        self._request(message, source)

    def _request(self, request: SipMessage, source: tuple[str, int]) -> None:
        method = request.method
        if method == "ACK":
            self._ack(request)
        elif method == "CANCEL":
            self._cancel(request, source)
        elif method == "OPTIONS":
            self._respond(
                request,
                source,
                200,
                "OK",
                [("Allow", ALLOW), ("Accept", "application/sdp"), ("Supported", SUPPORTED)],
            )
        elif request.to_tag:
            dialog = self.dialogs.get((request.call_id, request.to_tag))
            if dialog is None:
                self._respond(request, source, 481, "Call/Transaction Does Not Exist")
            elif method == "BYE":
                self._respond(request, source, 200, "OK")
                self._spawn(self._teardown(dialog, "completed", send_bye=False))
            elif method in ("INVITE", "UPDATE"):
                self._reinvite(dialog, request, source)
            else:
                self._respond(request, source, 405, "Method Not Allowed", [("Allow", ALLOW)])
        elif method == "INVITE":
            pending = PendingInvite(request, source, sip.new_tag())
            self.pending[request.branch] = pending
            self._respond(request, source, 100, "Trying")
            self._spawn(self._answer(pending))
        elif method == "BYE":
            self._respond(request, source, 481, "Call/Transaction Does Not Exist")
        else:
            self._respond(request, source, 405, "Method Not Allowed", [("Allow", ALLOW)])

    def _ack(self, request: SipMessage) -> None:
        dialog = self.dialogs.get((request.call_id, request.to_tag))
        if dialog is not None:
            dialog.acked.set()
        # An ACK to a failure response ends that transaction: nothing else to do over UDP.

    def _cancel(self, request: SipMessage, source: tuple[str, int]) -> None:
        pending = self.pending.get(request.branch)
        if pending is None:
            self._respond(request, source, 481, "Call/Transaction Does Not Exist")
            return
        self._respond(request, source, 200, "OK")
        pending.cancelled.set()

    def _response_received(self, response: SipMessage) -> None:
        with contextlib.suppress(SipParseError):
            waiting = self._client_transactions.get(response.branch)
            if waiting is not None and response.status >= 200:
                waiting.set()

    # Answering an INVITE --------------------------------------------------------------------
    async def _answer(self, pending: PendingInvite) -> None:
        request = pending.request
        target: Target | None = None
        dialog: Dialog | None = None
        try:
            rejection = self._screen(request, pending.source)
            if rejection is not None:
                self._reject(pending, rejection)
                return
            negotiated = sdp.negotiate(sdp.parse_offer(request.body))
            called = sip.uri_parts(request.uri).user
            caller = sip.uri_parts(sip.uri_of(request.require("From"))).user
            routed = await asyncio.to_thread(
                resolve, self.hub, called, caller, self.config.token_ttl
            )
            if isinstance(routed, Rejection):
                self._reject(pending, routed)
                return
            target = routed
            if not pending.cancelled.is_set():
                dialog = await self._open_dialog(pending, target)
            if pending.cancelled.is_set():
                raise asyncio.CancelledError
            assert dialog is not None
            dialog.rtp.start(
                negotiated, dialog_audio(dialog), dialog_dtmf(dialog), silence_when_idle=True
            )
            self.dialogs[dialog.key] = dialog
            self._accept(pending, dialog, request)
        except (Exception, asyncio.CancelledError) as exc:
            # A CANCEL, a refusal or a failure: answered with a final status, nothing kept.
            if not isinstance(exc, _EXPECTED_FAILURES):
                logger.exception("answering a SIP call failed")
            self._reject(pending, _rejection_for(exc))
            if dialog is not None:
                # A session the gateway created ends with its call; one created for SIP by
                # the API stays open for the caller to try again.
                reason = "canceled" if target is not None and target.created_here else None
                await self._teardown(dialog, reason, send_bye=False)
            elif target is not None and target.created_here:
                await self.hub.end(target.session_id, "canceled")
        finally:
            self.pending.pop(request.branch, None)

    def _screen(self, request: SipMessage, source: tuple[str, int]) -> Rejection | None:
        """Checks before any work: the caller's address and credentials, the extensions it
        requires."""
        networks = self.config.trusted_networks
        if networks and not any(ipaddress.ip_address(source[0]) in net for net in networks):
            return Rejection(403, "Forbidden", "the source address is not allowed")
        digest = self.config.digest
        if digest is not None:
            verdict = digest.check(request.method, request.get("Authorization"))
            if verdict is Verdict.WRONG:
                return Rejection(403, "Forbidden", "wrong credentials")
            if verdict is not Verdict.OK:
                stale = verdict is Verdict.STALE
                return Rejection(401, "Unauthorized", challenge=digest.challenge(stale))
        required = {
            item.strip().lower() for item in ",".join(request.get_all("Require")).split(",")
        }
        unsupported = required - {"", "timer"}
        if unsupported:
            return Rejection(420, "Bad Extension", ", ".join(sorted(unsupported)))
        expires = _session_expires(request)
        if expires is not None and expires < MIN_SESSION_EXPIRES:
            return Rejection(422, "Session Interval Too Small")
        if request.get("Content-Type") not in (None, "application/sdp") or not request.body:
            return Rejection(488, "Not Acceptable Here", "an SDP offer is required in the INVITE")
        return None

    async def _open_dialog(self, pending: PendingInvite, target: Target) -> Dialog:
        request = pending.request
        rtp = await RtpStream.bind(
            self.config.host, self.config.rtp_port_min, self.config.rtp_port_max
        )
        self._streams.add(rtp)
        contact = request.get("Contact")
        dialog = Dialog(
            call_id=request.call_id,
            local_tag=pending.to_tag,
            invite=request,
            source=pending.source,
            remote_target=sip.uri_of(contact) if contact else sip.uri_of(request.require("From")),
            route_set=request.get_all("Record-Route"),
            local_party=f"{request.require('To')};tag={pending.to_tag}",
            remote_party=request.require("From"),
            session_id=target.session_id,
            rtp=rtp,
        )
        try:
            send = functools.partial(self._on_session_event, dialog)
            audio = functools.partial(_play, rtp)
            if target.call is not None:
                dialog.leg = await self._join_as_caller(target.call, send, audio)
            else:
                assert target.token is not None
                dialog.leg = await Leg.open(
                    self.hub,
                    target.session_id,
                    target.token,
                    Party.CALLER,
                    send,
                    AudioEncoding.PCM_S16LE,
                    audio,
                )
        except BaseException:
            await rtp.close()
            raise
        expires = _session_expires(request)
        if expires is not None:
            dialog.session_expires_s = max(expires, MIN_SESSION_EXPIRES)
        return dialog

    async def _join_as_caller(self, call: CallSession, send: Send, audio: AudioSink) -> Leg:
        """Join a SIP session as its caller, unless one is there or joining already."""
        # Checked and claimed without an await in between: two INVITEs cannot both pass.
        if call.id in self._joining or has_caller(self.hub, call.id):
            raise CallerPresent
        self._joining.add(call.id)
        try:
            return await Leg.join(
                self.hub, call, Party.CALLER, send, AudioEncoding.PCM_S16LE, audio
            )
        finally:
            self._joining.discard(call.id)

    def _accept(self, pending: PendingInvite, dialog: Dialog, request: SipMessage) -> None:
        headers = [*self._dialog_headers(dialog, request), ("Content-Type", "application/sdp")]
        body = self._sdp_answer(dialog)
        data = self._respond(request, pending.source, 200, "OK", headers, body, pending.to_tag)
        self.calls_answered += 1
        dialog.tasks.add(asyncio.create_task(self._retransmit_ok(dialog, data)))
        if dialog.session_expires_s is not None:
            dialog.tasks.add(asyncio.create_task(self._session_timer(dialog)))
        dialog.tasks.add(asyncio.create_task(self._watch_media(dialog)))

    def _dialog_headers(self, dialog: Dialog, request: SipMessage) -> list[tuple[str, str]]:
        contact = f"<sip:{dialog.session_id}@{self.config.public_host}:{self.config.port}>"
        headers = [("Record-Route", route) for route in request.get_all("Record-Route")]
        headers += [
            ("Contact", contact),
            ("Allow", ALLOW),
            ("Supported", SUPPORTED),
        ]
        if dialog.session_expires_s is not None:
            headers.append(("Session-Expires", f"{dialog.session_expires_s};refresher=uac"))
            if "timer" in (request.get("Supported") or "").lower():
                headers.append(("Require", "timer"))
        return headers

    def _sdp_answer(self, dialog: Dialog) -> bytes:
        assert dialog.rtp.negotiated is not None
        return sdp.answer(
            dialog.rtp.negotiated, self.config.public_host, dialog.rtp.port, dialog.sdp_version
        )

    def _reject(self, pending: PendingInvite, rejection: Rejection) -> None:
        extra = [("Warning", f'399 kallglot "{rejection.warning}"')] if rejection.warning else []
        if rejection.challenge is not None:
            extra.append(("WWW-Authenticate", rejection.challenge))
        if rejection.status == 422:
            extra.append(("Min-SE", str(MIN_SESSION_EXPIRES)))
        if rejection.status == 420 and rejection.warning:
            extra = [("Unsupported", rejection.warning)]
        if rejection.status == 503:
            extra.append(("Retry-After", "5"))
        self._respond(
            pending.request,
            pending.source,
            rejection.status,
            rejection.reason,
            extra,
            to_tag=pending.to_tag,
        )

    async def _retransmit_ok(self, dialog: Dialog, data: bytes) -> None:
        """Resend the 2xx until the ACK; without one in 64*T1 the call is hung up."""
        interval = T1
        loop = asyncio.get_running_loop()
        give_up = loop.time() + TRANSACTION_S
        while loop.time() < give_up:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(dialog.acked.wait(), interval)
                return
            self._sendto(data, sip.via_address(dialog.invite.require("Via"), dialog.source))
            interval = min(2 * interval, T2)
        logger.info("no ACK for call %s: hanging up", dialog.session_id)
        self._spawn(self._teardown(dialog, "no_ack", send_bye=True))

    async def _session_timer(self, dialog: Dialog) -> None:
        """RFC 4028: without a refresh within the interval, the call is considered dead."""
        assert dialog.session_expires_s is not None
        while True:
            dialog.refreshed.clear()
            try:
                await asyncio.wait_for(dialog.refreshed.wait(), dialog.session_expires_s)
            except TimeoutError:
                logger.info("session timer expired for call %s", dialog.session_id)
                self._spawn(self._teardown(dialog, "session_timer_expired", send_bye=True))
                return

    async def _watch_media(self, dialog: Dialog) -> None:
        """A caller that vanished without a BYE (no RTP while not on hold) is hung up."""
        while True:
            idle_for = dialog.rtp.silent_for()
            if idle_for >= self.config.media_idle_s:
                logger.info("no RTP for %.0f s on call %s: hanging up", idle_for, dialog.session_id)
                self._spawn(self._teardown(dialog, "timeout", send_bye=True))
                return
            await asyncio.sleep(min(1.0, self.config.media_idle_s - idle_for))

    # In-dialog ------------------------------------------------------------------------------
    def _reinvite(self, dialog: Dialog, request: SipMessage, source: tuple[str, int]) -> None:
        """A re-INVITE or UPDATE: new media (e.g. hold / resume), or a session refresh."""
        if request.body:
            try:
                negotiated = sdp.negotiate(sdp.parse_offer(request.body))
            except sdp.SdpError as exc:
                warning = [("Warning", f'399 kallglot "{exc}"')]
                self._respond(request, source, 488, "Not Acceptable Here", warning)
                return
            dialog.rtp.update(negotiated)
            dialog.sdp_version += 1
        expires = _session_expires(request)
        if expires is not None:
            dialog.session_expires_s = max(expires, MIN_SESSION_EXPIRES)
        dialog.refreshed.set()
        headers = self._dialog_headers(dialog, request)
        if request.body or request.method == "INVITE":
            # An offer gets our answer; a re-INVITE without one gets our offer (the current
            # media; its answer in the ACK changes nothing we send). An UPDATE without one
            # only refreshes the session timer.
            headers.append(("Content-Type", "application/sdp"))
            self._respond(request, source, 200, "OK", headers, self._sdp_answer(dialog))
        else:
            self._respond(request, source, 200, "OK", headers)

    async def _on_session_event(self, dialog: Dialog, event: dict[str, Any]) -> None:
        """The session's events for the caller: translated speech, barge-in, the end."""
        kind = event["type"]
        if kind == "audio.clear":
            dialog.rtp.clear()
        elif kind == "session.ended":
            # Not from inside the session's broadcast: the teardown leaves the call.
            self._spawn(self._teardown(dialog, None, send_bye=True))

    async def _teardown(self, dialog: Dialog, reason: str | None, *, send_bye: bool) -> None:
        """End the dialog once: media closed, leg left (``reason``: end the session too)."""
        if dialog.ended:
            return
        dialog.ended = True
        self.dialogs.pop(dialog.key, None)
        current = asyncio.current_task()
        for task in dialog.tasks:
            if task is not current:
                task.cancel()
        await dialog.rtp.close()
        if send_bye:
            self._spawn(self._send_bye(dialog))
        if dialog.leg is not None:
            await dialog.leg.close(end_call_reason=reason)

    async def _send_bye(self, dialog: Dialog) -> None:
        branch = sip.new_branch()
        dialog.local_cseq += 1
        bye = SipMessage(method="BYE", uri=dialog.remote_target)
        bye.add(
            "Via", f"SIP/2.0/UDP {self.config.public_host}:{self.config.port};branch={branch};rport"
        )
        bye.add("Max-Forwards", "70")
        for route in dialog.route_set:
            bye.add("Route", route)
        bye.add("From", dialog.local_party)
        bye.add("To", dialog.remote_party)
        bye.add("Call-ID", dialog.call_id)
        bye.add("CSeq", f"{dialog.local_cseq} BYE")
        destination = _next_hop(dialog)
        answered = asyncio.Event()
        self._client_transactions[branch] = answered
        data = bye.encode()
        interval = T1
        try:
            loop = asyncio.get_running_loop()
            give_up = loop.time() + TRANSACTION_S
            while loop.time() < give_up:
                self._sendto(data, destination)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(answered.wait(), interval)
                    return
                interval = min(2 * interval, T2)
        finally:
            self._client_transactions.pop(branch, None)

    # Sending --------------------------------------------------------------------------------
    def _respond(
        self,
        request: SipMessage,
        source: tuple[str, int],
        status: int,
        reason: str,
        extra: list[tuple[str, str]] | None = None,
        body: bytes = b"",
        to_tag: str | None = None,
    ) -> bytes:
        response = SipMessage(status=status, reason=reason)
        vias = request.get_all("Via")
        response.add("Via", sip.with_received(vias[0], source))
        for via in vias[1:]:
            response.add("Via", via)
        response.add("From", request.require("From"))
        to = request.require("To")
        if status > 100 and not sip.tag_of(to):
            to += f";tag={to_tag or sip.new_tag()}"
        response.add("To", to)
        response.add("Call-ID", request.call_id)
        response.add("CSeq", request.require("CSeq"))
        response.add("Server", "Kallglot")
        for name, value in extra or []:
            response.add(name, value)
        response.body = body
        data = response.encode()
        destination = sip.via_address(vias[0], source)
        self._sendto(data, destination)
        if status >= 200 or request.method != "INVITE":
            loop = asyncio.get_running_loop()
            self._responses[(request.branch, request.method)] = _CachedResponse(
                data, destination, loop.time() + TRANSACTION_S
            )
        return data

    def _sendto(self, data: bytes, destination: tuple[str, int]) -> None:
        if self._transport is not None:
            self._transport.sendto(data, destination)

    def _expire_responses(self) -> None:
        now = asyncio.get_running_loop().time()
        for key in [key for key, cached in self._responses.items() if cached.expires_at < now]:
            del self._responses[key]


async def _play(rtp: RtpStream, chunk: OutputChunk) -> None:
    """Translated speech for the caller, converted to the codec at the RTP edge."""
    rtp.play(chunk.pcm16k)


def dialog_audio(dialog: Dialog) -> OnAudio:
    """The caller's decoded speech into the session (a dropped frame under backpressure)."""

    async def deliver(pcm16k: bytes) -> None:
        if dialog.leg is None or dialog.ended:
            return
        try:
            await dialog.leg.audio(pcm16k, AudioEncoding.PCM_S16LE)
        except ProtocolError as exc:  # backpressure: that frame is dropped
            logger.info("dropping SIP audio: %s", exc.code)

    return deliver


def dialog_dtmf(dialog: Dialog) -> OnDtmf:
    """RFC 4733 key presses into the session as ``dtmf`` events."""

    async def deliver(digit: str, duration_ms: int) -> None:
        if dialog.leg is not None and not dialog.ended:
            await dialog.leg.dtmf(digit, duration_ms or None)

    return deliver


_EXPECTED_FAILURES = (
    asyncio.CancelledError,
    CallerPresent,
    KallglotError,
    sdp.SdpError,
    SipParseError,
    RtpPortsExhausted,
)


def _rejection_for(exc: BaseException) -> Rejection:
    """The SIP answer for why an INVITE could not be answered."""
    if isinstance(exc, asyncio.CancelledError):
        return Rejection(487, "Request Terminated")
    if isinstance(exc, CallerPresent):
        return Rejection(486, "Busy Here", "the session already has its caller")
    if isinstance(exc, sdp.SdpError):
        return Rejection(488, "Not Acceptable Here", str(exc))
    if isinstance(exc, SipParseError):
        return Rejection(400, "Bad Request", str(exc))
    if isinstance(exc, RtpPortsExhausted):
        return Rejection(503, "Service Unavailable", "no free RTP port")
    if isinstance(exc, ServiceUnavailableError):
        return Rejection(503, "Service Unavailable", exc.message)
    if isinstance(exc, KallglotError):
        return Rejection(403, "Forbidden", exc.message)
    return Rejection(500, "Server Internal Error")


def _session_expires(request: SipMessage) -> int | None:
    value = request.get("Session-Expires")
    if value is None:
        return None
    number = value.split(";", 1)[0].strip()
    return int(number) if number.isdigit() else None


def _next_hop(dialog: Dialog) -> tuple[str, int]:
    """Where an in-dialog request goes: the first Record-Route hop (loose routing), or the
    peer's Contact."""
    uri = sip.uri_of(dialog.route_set[0]) if dialog.route_set else dialog.remote_target
    try:
        parts = sip.uri_parts(uri)
    except SipParseError:
        return sip.via_address(dialog.invite.require("Via"), dialog.source)
    return (parts.host, parts.port or 5060)
