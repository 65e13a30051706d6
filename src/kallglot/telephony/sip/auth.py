"""SIP digest authentication of callers (RFC 3261 §22.4 with RFC 2617's digest, qop=auth).

When a node has SIP credentials (``KALLGLOT_SIP_DIGEST_USERNAME`` / ``_PASSWORD``, e.g. the
ones given to the customer's PBX or trunk), a new INVITE must prove it knows them: the
gateway answers 401 with a challenge, the caller re-sends the INVITE with an
``Authorization`` header. Nonces are stateless (a timestamp signed with a per-process
key) and expire after five minutes (a stale one is challenged again with ``stale=true``).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from enum import Enum

NONCE_TTL_S = 300
_PARAM = re.compile(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


class Verdict(Enum):
    OK = "ok"
    CHALLENGE = "challenge"  # no credentials, or for another realm: 401
    STALE = "stale"  # right credentials, expired nonce: 401 with stale=true
    WRONG = "wrong"  # wrong user or password: 403


def _md5(text: str) -> str:
    # RFC 2617 fixes MD5 for SIP digest (what phones and trunks implement); the password
    # never travels, and each response is bound to our signed, expiring nonce.
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def digest_response(
    username: str,
    realm: str,
    password: str,
    method: str,
    uri: str,
    nonce: str,
    qop: str | None = None,
    nc: str = "",
    cnonce: str = "",
) -> str:
    """The ``response`` of RFC 2617 §3.2.2.1 (qop ``auth``, or none as in RFC 2069)."""
    ha1 = _md5(f"{username}:{realm}:{password}")
    ha2 = _md5(f"{method}:{uri}")
    if qop == "auth":
        return _md5(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")
    return _md5(f"{ha1}:{nonce}:{ha2}")


def parse_authorization(value: str) -> dict[str, str]:
    scheme, _, params = value.strip().partition(" ")
    if scheme.lower() != "digest":
        return {}
    return {
        m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3)
        for m in _PARAM.finditer(params)
    }


@dataclass(frozen=True)
class DigestAuthenticator:
    username: str
    password: str
    realm: str
    key: bytes

    @classmethod
    def create(cls, username: str, password: str, realm: str) -> DigestAuthenticator:
        return cls(username, password, realm, secrets.token_bytes(32))

    def nonce(self, now: float | None = None) -> str:
        stamp = str(int(time.time() if now is None else now))
        signature = hmac.new(self.key, stamp.encode(), hashlib.sha256).hexdigest()[:32]
        return f"{stamp}.{signature}"

    def challenge(self, stale: bool = False) -> str:
        value = f'Digest realm="{self.realm}", nonce="{self.nonce()}", algorithm=MD5, qop="auth"'
        return value + (", stale=true" if stale else "")

    def _nonce_is_fresh(self, nonce: str, now: float) -> bool | None:
        """True if ours and fresh, False if ours and expired, None if not ours."""
        stamp, _, signature = nonce.partition(".")
        expected = hmac.new(self.key, stamp.encode(), hashlib.sha256).hexdigest()[:32]
        if not stamp.isdigit() or not hmac.compare_digest(signature, expected):
            return None
        return now - int(stamp) <= NONCE_TTL_S

    def check(self, method: str, authorization: str | None, now: float | None = None) -> Verdict:
        if authorization is None:
            return Verdict.CHALLENGE
        params = parse_authorization(authorization)
        if params.get("realm") != self.realm or "nonce" not in params or "response" not in params:
            return Verdict.CHALLENGE
        fresh = self._nonce_is_fresh(params["nonce"], time.time() if now is None else now)
        if fresh is None:
            return Verdict.CHALLENGE
        expected = digest_response(
            params.get("username", ""),
            self.realm,
            self.password,
            method,
            params.get("uri", ""),
            params["nonce"],
            params.get("qop"),
            params.get("nc", ""),
            params.get("cnonce", ""),
        )
        right = hmac.compare_digest(params["response"], expected) and hmac.compare_digest(
            params.get("username", ""), self.username
        )
        if not right:
            return Verdict.WRONG
        return Verdict.OK if fresh else Verdict.STALE
