"""SDP offer/answer (RFC 3264) for one audio stream: PCMU, PCMA, Opus, telephone-event.

We answer with the first codec of the offer that we support (the offerer's preference),
plus telephone-event when offered, and mirror the direction (hold: a ``sendonly`` or
``inactive`` offer, or the RFC 2543 ``c=0.0.0.0``, is answered ``recvonly``/``inactive``).
"""

from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass, field

from kallglot.telephony.media import Codec, Opus, Pcma, Pcmu

# Static payload types of RFC 3551 that need no a=rtpmap.
STATIC = {0: ("PCMU", 8000), 8: ("PCMA", 8000)}
SUPPORTED = ("PCMU", "PCMA", "OPUS")
DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
_ANSWER_DIRECTION = {
    "sendrecv": "sendrecv",
    "sendonly": "recvonly",
    "recvonly": "sendonly",
    "inactive": "inactive",
}


class SdpError(ValueError):
    """The offer cannot be parsed, or shares no codec with us (SIP answers 488)."""


@dataclass
class Offer:
    address: str
    port: int
    payload_types: list[int]
    rtpmap: dict[int, tuple[str, int]] = field(default_factory=dict)
    direction: str = "sendrecv"


@dataclass(frozen=True)
class Negotiated:
    """What both ends agreed: the audio payload type and codec, DTMF's payload type."""

    payload_type: int
    codec_name: str
    clock_rate: int
    dtmf_payload_type: int | None
    remote_address: str
    remote_port: int
    direction: str  # ours, as answered

    @property
    def on_hold(self) -> bool:
        """The peer does not want to hear us (it put the call on hold)."""
        return self.direction in ("recvonly", "inactive")

    def codec(self) -> Codec:
        """A fresh codec (Opus keeps encoder/decoder state, so one per call)."""
        if self.codec_name == "PCMU":
            return Pcmu()
        if self.codec_name == "PCMA":
            return Pcma()
        return Opus()


def parse_offer(body: bytes) -> Offer:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SdpError("SDP is not UTF-8") from exc
    session_address = ""
    offer: Offer | None = None
    direction = "sendrecv"
    for raw in text.splitlines():
        line = raw.strip()
        if len(line) < 2 or line[1] != "=":
            continue
        kind, value = line[0], line[2:]
        if kind == "c":
            address = _connection_address(value)
            if offer is None:
                session_address = address
            else:
                offer.address = address
        elif kind == "m":
            if offer is not None:
                break  # one audio stream is all we take; later media lines are refused
            offer = _media(value, session_address)
            offer.direction = direction
        elif kind == "a":
            name, _, rest = value.partition(":")
            if name in DIRECTIONS:
                if offer is None:
                    direction = name
                else:
                    offer.direction = name
            elif name == "rtpmap" and offer is not None:
                _rtpmap(offer, rest)
    if offer is None:
        raise SdpError("the offer has no audio stream")
    if not offer.address:
        raise SdpError("the offer has no connection address")
    return offer


def _connection_address(value: str) -> str:
    parts = value.split()
    if len(parts) != 3 or parts[0] != "IN" or parts[1] not in ("IP4", "IP6"):
        raise SdpError(f"unsupported connection line {value[:40]!r}")
    return parts[2].split("/")[0]


def _media(value: str, session_address: str) -> Offer:
    parts = value.split()
    if len(parts) < 4 or parts[0] != "audio":
        raise SdpError("the first media stream is not audio")
    if parts[2] != "RTP/AVP":
        raise SdpError(f"unsupported transport {parts[2]}")
    if not parts[1].isdigit() or not all(item.isdigit() for item in parts[3:]):
        raise SdpError("malformed media line")
    payload_types = [int(item) for item in parts[3:]]
    rtpmap = {pt: STATIC[pt] for pt in payload_types if pt in STATIC}
    return Offer(session_address, int(parts[1]), payload_types, rtpmap)


def _rtpmap(offer: Offer, rest: str) -> None:
    number, _, encoding = rest.partition(" ")
    name, _, rate = encoding.partition("/")
    if number.isdigit() and rate.split("/")[0].isdigit():
        offer.rtpmap[int(number)] = (name, int(rate.split("/")[0]))


def negotiate(offer: Offer) -> Negotiated:
    """Pick the codec; raise :class:`SdpError` when nothing is shared (488)."""
    chosen: tuple[int, str, int] | None = None
    dtmf: int | None = None
    for pt in offer.payload_types:
        name, rate = offer.rtpmap.get(pt, ("", 0))
        upper = name.upper()
        if upper == "TELEPHONE-EVENT" and rate == 8000 and dtmf is None:
            dtmf = pt
        elif chosen is None and upper in SUPPORTED:
            if upper == "OPUS" and rate != 48000:
                continue
            chosen = (pt, "opus" if upper == "OPUS" else upper, rate)
    if chosen is None:
        raise SdpError("no codec in common (we take PCMU, PCMA, opus/48000)")
    on_hold_address = _unspecified(offer.address)  # RFC 2543 style hold: c=0.0.0.0
    direction = "inactive" if on_hold_address else _ANSWER_DIRECTION[offer.direction]
    if offer.port == 0:
        raise SdpError("the audio stream is refused (port 0)")
    return Negotiated(chosen[0], chosen[1], chosen[2], dtmf, offer.address, offer.port, direction)


def _unspecified(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_unspecified
    except ValueError:  # a host name
        return False


def answer(negotiated: Negotiated, our_address: str, our_port: int, version: int) -> bytes:
    family = "IP6" if ":" in our_address else "IP4"
    payload_types = [negotiated.payload_type]
    lines = [
        "v=0",
        f"o=kallglot {int(time.time())} {version} IN {family} {our_address}",
        "s=Kallglot",
        f"c=IN {family} {our_address}",
        "t=0 0",
    ]
    rtpmaps = [_rtpmap_line(negotiated.payload_type, negotiated.codec_name, negotiated.clock_rate)]
    if negotiated.codec_name == "opus":
        rtpmaps.append(f"a=fmtp:{negotiated.payload_type} useinbandfec=0")
    if negotiated.dtmf_payload_type is not None:
        payload_types.append(negotiated.dtmf_payload_type)
        rtpmaps.append(f"a=rtpmap:{negotiated.dtmf_payload_type} telephone-event/8000")
        rtpmaps.append(f"a=fmtp:{negotiated.dtmf_payload_type} 0-15")
    lines.append(f"m=audio {our_port} RTP/AVP {' '.join(str(pt) for pt in payload_types)}")
    lines += rtpmaps
    lines += ["a=ptime:20", f"a={negotiated.direction}"]
    return ("\r\n".join(lines) + "\r\n").encode()


def _rtpmap_line(payload_type: int, name: str, rate: int) -> str:
    channels = "/2" if name == "opus" else ""  # RFC 7587: opus is always declared stereo
    return f"a=rtpmap:{payload_type} {name}/{rate}{channels}"
