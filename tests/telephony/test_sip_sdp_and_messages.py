"""SIP message parsing and SDP offer/answer, without a network."""

from __future__ import annotations

import pytest

from kallglot.telephony.sip import message as sip
from kallglot.telephony.sip import sdp
from kallglot.telephony.sip.auth import DigestAuthenticator, Verdict, digest_response
from kallglot.telephony.sip.rtp import RtpPacket, build_rtp, parse_rtp


def offer_text(media: str, extra: str = "", address: str = "192.0.2.10") -> bytes:
    return (
        f"v=0\r\no=- 1 1 IN IP4 {address}\r\ns=-\r\nc=IN IP4 {address}\r\nt=0 0\r\n"
        f"{media}\r\n{extra}"
    ).encode()


def test_the_offerers_first_supported_codec_wins_and_dtmf_is_kept() -> None:
    body = offer_text(
        "m=audio 4000 RTP/AVP 18 8 0 101",
        "a=rtpmap:18 G729/8000\r\na=rtpmap:101 telephone-event/8000\r\n",
    )
    negotiated = sdp.negotiate(sdp.parse_offer(body))
    assert (negotiated.payload_type, negotiated.codec_name) == (8, "PCMA")
    assert negotiated.dtmf_payload_type == 101
    assert (negotiated.remote_address, negotiated.remote_port) == ("192.0.2.10", 4000)
    answer = sdp.answer(negotiated, "198.51.100.1", 20002, 1).decode()
    assert "m=audio 20002 RTP/AVP 8 101\r\n" in answer
    assert "c=IN IP4 198.51.100.1\r\n" in answer
    assert "a=rtpmap:101 telephone-event/8000" in answer and "a=sendrecv" in answer


def test_opus_is_taken_at_48_khz_with_its_dynamic_payload_type() -> None:
    body = offer_text("m=audio 4000 RTP/AVP 96 0", "a=rtpmap:96 opus/48000/2\r\n")
    negotiated = sdp.negotiate(sdp.parse_offer(body))
    assert (negotiated.payload_type, negotiated.codec_name, negotiated.clock_rate) == (
        96,
        "opus",
        48000,
    )
    assert "a=rtpmap:96 opus/48000/2" in sdp.answer(negotiated, "127.0.0.1", 20000, 1).decode()
    assert negotiated.codec().clock_rate == 48000


@pytest.mark.parametrize(
    ("offered", "answered"),
    [("sendonly", "recvonly"), ("inactive", "inactive"), ("recvonly", "sendonly")],
)
def test_hold_directions_are_mirrored(offered: str, answered: str) -> None:
    body = offer_text("m=audio 4000 RTP/AVP 0", f"a={offered}\r\n")
    negotiated = sdp.negotiate(sdp.parse_offer(body))
    assert negotiated.direction == answered
    assert negotiated.on_hold is (answered in ("recvonly", "inactive"))


def test_the_old_style_hold_address_means_inactive() -> None:
    negotiated = sdp.negotiate(
        sdp.parse_offer(offer_text("m=audio 4000 RTP/AVP 0", address="0.0.0.0"))
    )
    assert negotiated.direction == "inactive" and negotiated.on_hold


@pytest.mark.parametrize(
    "body",
    [
        offer_text("m=audio 4000 RTP/AVP 18 9", "a=rtpmap:18 G729/8000\r\n"),  # no common codec
        offer_text("m=video 4000 RTP/AVP 96"),
        offer_text("m=audio 4000 RTP/SAVP 0"),  # SRTP: not offered by us
        offer_text("m=audio 0 RTP/AVP 0"),  # stream refused
        b"v=0\r\ns=-\r\n",
        b"\xff\xfe",
    ],
)
def test_offers_we_cannot_answer_raise(body: bytes) -> None:
    with pytest.raises(sdp.SdpError):
        sdp.negotiate(sdp.parse_offer(body))


INVITE = (
    "INVITE sip:+493012345670@127.0.0.1:5070 SIP/2.0\r\n"
    "v: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKa, SIP/2.0/UDP 10.0.0.2;branch=z9hG4bKb\r\n"
    'f: "Alice, A." <sip:alice@example.com>;tag=abc\r\n'
    "t: <sip:+493012345670@example.com>\r\n"
    "i: call-1\r\n"
    "CSeq: 7 INVITE\r\n"
    "Subject: folded\r\n  over two lines\r\n"
    "Record-Route: <sip:p1;lr>,<sip:p2;lr>\r\n"
    "l: 4\r\n\r\nbodyEXTRA"
)


def test_compact_forms_lists_folding_and_body_length() -> None:
    message = sip.parse(INVITE.encode())
    assert (message.method, message.uri) == ("INVITE", "sip:+493012345670@127.0.0.1:5070")
    assert len(message.get_all("Via")) == 2 and message.branch == "z9hG4bKa"
    assert message.from_tag == "abc" and message.to_tag == ""
    assert message.get_all("Record-Route") == ["<sip:p1;lr>", "<sip:p2;lr>"]
    assert message.get("Subject") == "folded over two lines"
    assert message.cseq == (7, "INVITE") and message.body == b"body"
    assert sip.uri_parts(message.uri) == sip.UriParts("+493012345670", "127.0.0.1", 5070)
    assert sip.uri_of(message.require("From")) == "sip:alice@example.com"
    again = sip.parse(message.encode())
    assert again.headers[:-1] == [h for h in message.headers if h[0] != "Content-Length"]


def test_responses_go_where_the_via_says() -> None:
    assert sip.via_address(
        "SIP/2.0/UDP 10.0.0.1:5062;branch=z9hG4bKx;rport", ("127.0.0.1", 40000)
    ) == (
        "127.0.0.1",
        40000,
    )
    assert sip.via_address("SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKx", ("127.0.0.1", 40000)) == (
        "127.0.0.1",
        5060,
    )
    echoed = sip.with_received("SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKx;rport", ("127.0.0.1", 40000))
    assert echoed.endswith(";rport=40000;received=127.0.0.1")


@pytest.mark.parametrize(
    ("raw", "answerable"),
    [
        (b"", False),
        (b"HELLO\r\n\r\n", False),
        (INVITE.replace("CSeq: 7 INVITE", "CSeq: seven").encode(), False),
        (INVITE.replace("l: 4", "l: 400").encode(), True),
        (INVITE.replace("CSeq: 7 INVITE", "CSeq: 7 BYE").encode(), True),
        (INVITE.replace("i: call-1\r\n", "").encode(), False),
        (INVITE.replace("sip:+49", "http:+49", 1).encode(), False),
    ],
)
def test_malformed_messages_are_refused(raw: bytes, answerable: bool) -> None:
    with pytest.raises(sip.SipParseError) as error:
        sip.parse(raw)
    assert (error.value.partial is not None) is answerable


def test_rtp_packets_round_trip_and_rtcp_or_junk_is_ignored() -> None:
    packet = RtpPacket(0, True, 65535, 2**32 - 160, 0xDEADBEEF, b"\xff" * 160)
    assert parse_rtp(build_rtp(packet)) == packet
    with_csrc_and_padding = (
        bytes([0x80 | 0x20 | 1]) + build_rtp(packet)[1:12] + b"\0" * 4 + b"ab\x00\x02"
    )
    assert parse_rtp(with_csrc_and_padding) is not None
    assert parse_rtp(with_csrc_and_padding).payload == b"ab"  # type: ignore[union-attr]
    assert parse_rtp(b"\x80\xc8" + b"\0" * 10) is None  # an RTCP sender report
    assert parse_rtp(b"junk") is None


def test_digest_response_matches_rfc_2617s_example() -> None:
    response = digest_response(
        "Mufasa",
        "testrealm@host.com",
        "Circle Of Life",
        "GET",
        "/dir/index.html",
        "dcd98b7102dd2f0e8b11d0f600bfb0c093",
        "auth",
        "00000001",
        "0a4f113b",
    )
    assert response == "6629fae49393a05397450978507c4ef1"


def test_digest_nonces_are_ours_and_expire() -> None:
    auth = DigestAuthenticator.create("pbx", "s3cret", "sip.example")
    nonce = auth.nonce(now=1000.0)

    def header(password: str, username: str = "pbx", realm: str = "sip.example") -> str:
        response = digest_response(
            username, realm, password, "INVITE", "sip:x@y", nonce, "auth", "00000001", "ab"
        )
        return (
            f'Digest username="{username}", realm="{realm}", nonce="{nonce}", uri="sip:x@y", '
            f'response="{response}", algorithm=MD5, qop=auth, nc=00000001, cnonce="ab"'
        )

    assert auth.check("INVITE", header("s3cret"), now=1010.0) is Verdict.OK
    assert auth.check("INVITE", header("s3cret"), now=1000.0 + 301) is Verdict.STALE
    assert auth.check("INVITE", header("wrong"), now=1010.0) is Verdict.WRONG
    assert auth.check("INVITE", header("s3cret", username="other"), now=1010.0) is Verdict.WRONG
    assert (
        auth.check("INVITE", header("s3cret", realm="elsewhere"), now=1010.0) is Verdict.CHALLENGE
    )
    assert auth.check("INVITE", None) is Verdict.CHALLENGE
    forged = header("s3cret").replace(nonce, "1000." + "0" * 32)
    assert auth.check("INVITE", forged, now=1010.0) is Verdict.CHALLENGE
    assert 'qop="auth"' in auth.challenge() and "stale=true" in auth.challenge(stale=True)
