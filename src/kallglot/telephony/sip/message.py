"""SIP messages (RFC 3261 §7): parsing what arrives over UDP and writing what we answer.

Only what a user agent server needs: the start line, headers (compact forms expanded,
comma-separated Via / Record-Route / Route values split), and the body bounded by
Content-Length. Anything that does not parse raises :class:`SipParseError`.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field

SIP_VERSION = "SIP/2.0"
# The branch of every RFC 3261 transaction starts with this "magic cookie" (§8.1.1.7).
BRANCH_COOKIE = "z9hG4bK"

COMPACT_FORMS = {
    "v": "Via",
    "f": "From",
    "t": "To",
    "i": "Call-ID",
    "m": "Contact",
    "l": "Content-Length",
    "c": "Content-Type",
    "k": "Supported",
    "s": "Subject",
    "e": "Content-Encoding",
    "x": "Session-Expires",
}
# Headers whose comma-separated values are separate entries (and are kept in order).
LIST_HEADERS = {"via", "record-route", "route"}
MANDATORY = ("Via", "From", "To", "Call-ID", "CSeq")

_URI_HOST_PORT = re.compile(
    r"^sips?:(?:(?P<user>[^@;>]*)@)?(?P<host>\[[^\]]+\]|[^:;>?]+)(?::(?P<port>\d+))?"
)
_TAG = re.compile(r";\s*tag=([^;>\s]+)", re.IGNORECASE)
_BRANCH = re.compile(r";\s*branch=([^;\s,]+)", re.IGNORECASE)
_VIA_SENT_BY = re.compile(
    r"^SIP/2\.0/(?P<transport>\w+)\s+(?P<host>\[[^\]]+\]|[^:;\s]+)(?::(?P<port>\d+))?",
    re.IGNORECASE,
)


class SipParseError(ValueError):
    """The datagram is not a SIP message we can act on.

    ``partial`` is what was read when enough of a request was (its Via, From, To, Call-ID
    and CSeq), so that it can still be answered 400.
    """

    def __init__(self, reason: str, partial: SipMessage | None = None) -> None:
        super().__init__(reason)
        self.partial = partial


def canonical(name: str) -> str:
    name = name.strip()
    expanded = COMPACT_FORMS.get(name.lower())
    if expanded:
        return expanded
    special = {"call-id": "Call-ID", "cseq": "CSeq", "www-authenticate": "WWW-Authenticate"}
    return special.get(name.lower()) or "-".join(part.capitalize() for part in name.split("-"))


def split_list(value: str) -> list[str]:
    """A header value split at commas that are outside quotes and <...>."""
    parts: list[str] = []
    depth, quoted, start = 0, False, 0
    for index, char in enumerate(value):
        if char == '"':
            quoted = not quoted
        elif not quoted and char == "<":
            depth += 1
        elif not quoted and char == ">":
            depth = max(0, depth - 1)
        elif not quoted and depth == 0 and char == ",":
            parts.append(value[start:index].strip())
            start = index + 1
    parts.append(value[start:].strip())
    return [part for part in parts if part]


@dataclass
class SipMessage:
    """A request (``method`` and ``uri`` set) or a response (``status`` set)."""

    method: str = ""
    uri: str = ""
    status: int = 0
    reason: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    @property
    def is_request(self) -> bool:
        return bool(self.method)

    def get(self, name: str) -> str | None:
        wanted = canonical(name)
        return next((value for key, value in self.headers if key == wanted), None)

    def get_all(self, name: str) -> list[str]:
        wanted = canonical(name)
        return [value for key, value in self.headers if key == wanted]

    def require(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise SipParseError(f"no {name} header")
        return value

    def add(self, name: str, value: str) -> None:
        self.headers.append((canonical(name), value))

    @property
    def call_id(self) -> str:
        return self.require("Call-ID")

    @property
    def cseq(self) -> tuple[int, str]:
        number, _, method = self.require("CSeq").partition(" ")
        if not number.isdigit() or not method.strip():
            raise SipParseError("malformed CSeq")
        return int(number), method.strip().upper()

    @property
    def branch(self) -> str:
        match = _BRANCH.search(self.require("Via"))
        return match.group(1) if match else ""

    @property
    def from_tag(self) -> str:
        return tag_of(self.require("From"))

    @property
    def to_tag(self) -> str:
        return tag_of(self.require("To"))

    def encode(self) -> bytes:
        start = (
            f"{self.method} {self.uri} {SIP_VERSION}"
            if self.is_request
            else f"{SIP_VERSION} {self.status} {self.reason}"
        )
        lines = [start]
        lines += [f"{name}: {value}" for name, value in self.headers if name != "Content-Length"]
        lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + self.body


def parse(datagram: bytes) -> SipMessage:
    head, separator, rest = datagram.partition(b"\r\n\r\n")
    if not separator:
        head, separator, rest = datagram.partition(b"\n\n")
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SipParseError("headers are not UTF-8") from exc
    lines = text.replace("\r\n", "\n").split("\n")
    if not lines or not lines[0].strip():
        raise SipParseError("empty message")
    message = _start_line(lines[0])
    unfolded: list[str] = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and unfolded:  # header folding (§7.3.1)
            unfolded[-1] += " " + line.strip()
        elif line:
            unfolded.append(line)
    for line in unfolded:
        name, colon, value = line.partition(":")
        if not colon or not name.strip():
            raise SipParseError(f"malformed header line {line[:40]!r}")
        name = canonical(name)
        values = split_list(value) if name.lower() in LIST_HEADERS else [value.strip()]
        message.headers += [(name, item) for item in values]
    for name in MANDATORY:
        message.require(name)
    try:
        message.cseq  # noqa: B018 - validates it
        if not _VIA_SENT_BY.match(message.require("Via")):
            raise SipParseError("malformed Via")
    except SipParseError as exc:
        raise SipParseError(str(exc)) from exc  # cannot even be answered
    length = message.get("Content-Length")
    if length is None:
        message.body = rest
    elif not length.strip().isdigit() or int(length) > len(rest):
        raise SipParseError("Content-Length does not match the body", partial=message)
    else:
        message.body = rest[: int(length)]
    if message.is_request and message.cseq[1] != message.method and message.method != "ACK":
        raise SipParseError("the CSeq method is not the request's", partial=message)
    return message


def _start_line(line: str) -> SipMessage:
    parts = line.strip().split(" ", 2)
    if len(parts) != 3:
        raise SipParseError("malformed start line")
    if parts[0] == SIP_VERSION:
        if not parts[1].isdigit() or len(parts[1]) != 3:
            raise SipParseError("malformed status code")
        return SipMessage(status=int(parts[1]), reason=parts[2])
    method, uri, version = parts
    if version != SIP_VERSION or not method.isalpha() or not method.isupper():
        raise SipParseError("malformed request line")
    if not uri.lower().startswith(("sip:", "sips:", "tel:")):
        raise SipParseError("unsupported Request-URI scheme")
    return SipMessage(method=method, uri=uri)


def tag_of(name_addr: str) -> str:
    # The tag is a header parameter: after the closing '>' when the URI is bracketed.
    params = name_addr.rsplit(">", 1)[-1] if ">" in name_addr else name_addr
    match = _TAG.search(params)
    return match.group(1) if match else ""


def uri_of(name_addr: str) -> str:
    """The URI inside ``"Name" <uri>;params`` or a bare ``uri;params``."""
    if "<" in name_addr:
        return name_addr.split("<", 1)[1].split(">", 1)[0]
    return name_addr.split(";", 1)[0].strip()


@dataclass(frozen=True)
class UriParts:
    user: str
    host: str
    port: int | None


def uri_parts(uri: str) -> UriParts:
    match = _URI_HOST_PORT.match(uri.strip())
    if match is None:
        raise SipParseError(f"not a SIP URI: {uri[:60]!r}")
    port = match.group("port")
    return UriParts(
        match.group("user") or "", match.group("host").strip("[]"), int(port) if port else None
    )


def via_address(via: str, source: tuple[str, int]) -> tuple[str, int]:
    """Where responses go (RFC 3261 §18.2.2 and RFC 3581): ``received``/``rport`` if the
    sender asked for them, otherwise the packet's source when sent-by disagrees."""
    match = _VIA_SENT_BY.match(via)
    if match is None:
        raise SipParseError("malformed Via")
    rport = re.search(r";\s*rport(?:=(\d+))?", via, re.IGNORECASE)
    if rport is not None:
        return source
    port = int(match.group("port")) if match.group("port") else 5060
    return (source[0], port)


def with_received(via: str, source: tuple[str, int]) -> str:
    """The top Via as echoed in a response: ``received`` and a filled-in ``rport``."""
    via = re.sub(r";\s*rport(?=;|$)", f";rport={source[1]}", via, count=1, flags=re.IGNORECASE)
    if not re.search(r";\s*received=", via, re.IGNORECASE):
        via += f";received={source[0]}"
    return via


def new_tag() -> str:
    return secrets.token_hex(6)


def new_branch() -> str:
    return BRANCH_COOKIE + secrets.token_hex(8)
