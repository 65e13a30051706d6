"""Password rules (NIST SP 800-63B) and the emailed, single-use reset that keeps MFA."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine

from kallglot.accounts import passwords
from kallglot.accounts.permissions import Role
from kallglot.core.clock import utcnow
from kallglot.core.errors import ValidationFailedError
from tests.accounts.mail_helpers import last_mail_to, token_in
from tests.conftest import MigratedDatabase
from tests.factories import Identity

NEW_PASSWORD = "brand new passphrase for me 5"


def rule(password: str, *, mfa: bool = False, name: str = "Petra Novak") -> str | None:
    try:
        passwords.check_password(password, email="petra@example.com", name=name, mfa_enabled=mfa)
    except ValidationFailedError as error:
        return error.code
    return None


def test_the_blocklist_is_large() -> None:
    assert passwords.blocklist_size() >= 10_000


@pytest.mark.parametrize(
    ("password", "mfa", "expected"),
    [
        ("short one", False, "password_too_short"),
        ("fourteen chars", False, "password_too_short"),
        ("fifteen chars!!", False, None),
        ("8 chars!", True, None),
        ("7 chars", True, "password_too_short"),
        ("x" * 128, True, None),
        ("x" * 129, True, "password_too_long"),
        ("password", True, "password_too_common"),
        ("iloveyou", True, "password_too_common"),
        ("qwertyuiop", True, "password_too_common"),
        ("1234567890123456", False, "password_too_common"),
        ("petra@example.com is mine", False, "password_contains_personal_data"),
        ("my name is PETRA okay", False, "password_contains_personal_data"),
        ("example.com-ish but long enough", False, None),
        ("only lowercase letters here", False, None),  # no composition rules
    ],
)
def test_password_rules(password: str, mfa: bool, expected: str | None) -> None:
    assert rule(password, mfa=mfa) == expected


def test_whitespace_is_kept_in_passwords(identity: Identity, database: MigratedDatabase) -> None:
    organization = identity.organization()
    user = identity.user(organization, password="  spaces around it matter  ")
    client = identity.client()
    stripped = client.post(
        "/v1/auth/login", json={"email": user.email, "password": "spaces around it matter"}
    )
    assert stripped.status_code == 401
    assert identity.login(user).get("/v1/auth/me").status_code == 200


def test_reset_by_mailed_single_use_token(identity: Identity, database: MigratedDatabase) -> None:
    organization = identity.organization()
    user = identity.user(organization, Role.AGENT)
    session_before = identity.login(user)
    client = identity.client()
    asked = client.post("/v1/auth/password-reset", json={"email": user.email.upper()})
    assert asked.status_code == 202
    token = token_in(last_mail_to(database, user.email))
    body = {"token": token, "new_password": NEW_PASSWORD}
    done = client.post("/v1/auth/password-reset/confirm", json=body)
    assert done.status_code == 200, done.text
    assert session_before.get("/v1/auth/me").status_code == 401  # every session ended
    again = client.post("/v1/auth/password-reset/confirm", json=body)
    assert again.status_code == 400
    assert again.json()["error"]["code"] == "reset_token_invalid"
    login = client.post("/v1/auth/login", json={"email": user.email, "password": NEW_PASSWORD})
    assert login.status_code == 200


def test_reset_answers_the_same_for_unknown_accounts(
    identity: Identity, database: MigratedDatabase
) -> None:
    known = identity.user(identity.organization())
    client = identity.client()
    unknown_answer = client.post("/v1/auth/password-reset", json={"email": "ghost@example.com"})
    known_answer = client.post("/v1/auth/password-reset", json={"email": known.email})
    # Nothing tells an unknown address from a known one: same status, headers, body.
    assert unknown_answer.status_code == known_answer.status_code == 202
    assert unknown_answer.content == known_answer.content
    assert unknown_answer.headers.get("content-type") == known_answer.headers.get("content-type")
    assert last_mail_to(database, known.email)
    with pytest.raises(AssertionError):
        last_mail_to(database, "ghost@example.com")


def test_reset_token_expires(identity: Identity, database: MigratedDatabase) -> None:
    organization = identity.organization()
    user = identity.user(organization)
    client = identity.client()
    client.post("/v1/auth/password-reset", json={"email": user.email})
    token = token_in(last_mail_to(database, user.email))
    with time_machine.travel(utcnow() + timedelta(minutes=31)):
        late = client.post(
            "/v1/auth/password-reset/confirm", json={"token": token, "new_password": NEW_PASSWORD}
        )
    assert late.status_code == 400
    assert late.json()["error"]["code"] == "reset_token_invalid"


def test_reset_does_not_bypass_mfa(identity: Identity, database: MigratedDatabase) -> None:
    organization = identity.organization()
    user = identity.user(organization, mfa=True)
    client = identity.client()
    client.post("/v1/auth/password-reset", json={"email": user.email})
    token = token_in(last_mail_to(database, user.email))
    without = client.post(
        "/v1/auth/password-reset/confirm", json={"token": token, "new_password": NEW_PASSWORD}
    )
    assert without.status_code == 401
    assert without.json()["error"]["code"] == "mfa_required"
    with_code = client.post(
        "/v1/auth/password-reset/confirm",
        json={"token": token, "new_password": NEW_PASSWORD, "code": user.totp_code()},
    )
    assert with_code.status_code == 200, with_code.text


def test_reset_with_a_weak_password_says_so_before_checking_the_code(
    identity: Identity, database: MigratedDatabase
) -> None:
    organization = identity.organization()
    user = identity.user(organization, mfa=True)
    client = identity.client()
    client.post("/v1/auth/password-reset", json={"email": user.email})
    token = token_in(last_mail_to(database, user.email))
    weak = client.post(
        "/v1/auth/password-reset/confirm",
        json={"token": token, "new_password": "password", "code": "000000"},
    )
    assert weak.status_code == 422
    assert weak.json()["error"]["code"] == "password_too_common"
