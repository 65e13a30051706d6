"""A minimal SIP user agent client over a real UDP socket, to drive the gateway in tests.

It writes requests by hand (so tests can send exactly what a phone or a broken peer
would) and reads the gateway's answers with the gateway's own parser.
"""

from __future__ import annotations

import secrets
import socket
import struct
import time
from dataclasses import dataclass, field

from kallglot.telephony.sip import message as sip
from kallglot.telephony.sip.message import SipMessage

PCMU_OFFER = "m=audio {port} RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n"


def offer(rtp_port: int, media: str = PCMU_OFFER, address: str = "127.0.0.1") -> str:
    head = f"v=0\r\no=peer 1 1 IN IP4 {address}\r\ns=-\r\nc=IN IP4 {address}\r\nt=0 0\r\n"
    return head + media.format(port=rtp_port)


@dataclass
class Call:
    user: str
    call_id: str = field(default_factory=lambda: secrets.token_hex(8) + "@peer")
    from_tag: str = field(default_factory=lambda: secrets.token_hex(4))
    to_tag: str = ""
    cseq: int = 1
    invite_branch: str = ""
    route: list[str] = field(default_factory=list)


class Peer:
    def __init__(self, gateway_port: int) -> None:
        self.gateway = ("127.0.0.1", gateway_port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port: int = self.sock.getsockname()[1]
        self.rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.rtp.bind(("127.0.0.1", 0))
        self.rtp_port: int = self.rtp.getsockname()[1]
        self.received: list[SipMessage] = []

    def close(self) -> None:
        self.sock.close()
        self.rtp.close()

    def __enter__(self) -> Peer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(
        self,
        call: Call,
        method: str,
        body: str = "",
        extra: str = "",
        branch: str | None = None,
        cseq: int | None = None,
    ) -> str:
        branch = branch or sip.new_branch()
        to_tag = f";tag={call.to_tag}" if call.to_tag else ""
        routes = "".join(f"Route: {route}\r\n" for route in call.route)
        content_type = "Content-Type: application/sdp\r\n" if body else ""
        raw = (
            f"{method} sip:{call.user}@127.0.0.1:{self.gateway[1]} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{self.port};branch={branch};rport\r\n"
            f"Max-Forwards: 70\r\n{routes}"
            f"From: <sip:+4915100000001@127.0.0.1>;tag={call.from_tag}\r\n"
            f"To: <sip:{call.user}@127.0.0.1>{to_tag}\r\n"
            f"Call-ID: {call.call_id}\r\n"
            f"CSeq: {call.cseq if cseq is None else cseq} {method}\r\n"
            f"Contact: <sip:peer@127.0.0.1:{self.port}>\r\n"
            f"{extra}{content_type}Content-Length: {len(body.encode())}\r\n\r\n{body}"
        )
        self.send(raw)
        return branch

    def send(self, raw: str | bytes) -> None:
        self.sock.sendto(raw.encode() if isinstance(raw, str) else raw, self.gateway)

    def next_message(self, timeout: float = 10.0) -> SipMessage:
        self.sock.settimeout(timeout)
        data, _ = self.sock.recvfrom(65535)
        message = sip.parse(data)
        self.received.append(message)
        return message

    def final(self, method: str, timeout: float = 15.0) -> SipMessage:
        """The next final response to ``method`` (provisional ones are skipped)."""
        deadline = time.monotonic() + timeout
        while True:
            message = self.next_message(max(0.1, deadline - time.monotonic()))
            if not message.is_request and message.status >= 200 and message.cseq[1] == method:
                return message

    def invite(self, call: Call, body: str, extra: str = "") -> SipMessage:
        call.invite_branch = self.request(call, "INVITE", body, extra)
        response = self.final("INVITE")
        call.to_tag = response.to_tag
        return response

    def ack(self, call: Call, response: SipMessage) -> None:
        """ACK a final response: in the dialog for a 2xx, in the INVITE's transaction otherwise."""
        branch = None if response.status < 300 else call.invite_branch
        call.route = (
            list(reversed(response.get_all("Record-Route"))) if response.status < 300 else []
        )
        self.request(call, "ACK", branch=branch, cseq=call.cseq)

    def answer(self, request: SipMessage, status: int = 200, reason: str = "OK") -> None:
        vias = "".join(f"Via: {via}\r\n" for via in request.get_all("Via"))
        self.send(
            f"SIP/2.0 {status} {reason}\r\n{vias}"
            f"From: {request.require('From')}\r\nTo: {request.require('To')}\r\n"
            f"Call-ID: {request.call_id}\r\nCSeq: {request.require('CSeq')}\r\n"
            "Content-Length: 0\r\n\r\n"
        )

    def send_dtmf(self, rtp_port: int, digit_event: int, timestamp: int) -> None:
        """One RFC 4733 event as a phone sends it: a start packet and three end packets."""
        for index, (flags, duration) in enumerate(
            [(0, 160), (0x80, 800), (0x80, 800), (0x80, 800)]
        ):
            header = struct.pack("!BBHII", 0x80, 101, 1000 + index, timestamp, 0x1234)
            payload = struct.pack("!BBH", digit_event, flags | 10, duration)
            self.rtp.sendto(header + payload, ("127.0.0.1", rtp_port))
