"""The one mail interface: SMTP when configured, else the outbox; never dropped."""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest

from kallglot import mail
from kallglot.core.settings import Settings
from kallglot.crypto import Keyring, install_keyring
from kallglot.db.engine import transaction
from tests.conftest import MigratedDatabase


class TinySmtpServer:
    """Just enough SMTP (no TLS) to receive one message on 127.0.0.1."""

    def __init__(self) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(1)
        self.listener.settimeout(10)
        self.port = int(self.listener.getsockname()[1])
        self.received: list[bytes] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            connection, _ = self.listener.accept()
        except OSError:
            return
        with connection, connection.makefile("rwb") as stream:
            stream.write(b"220 tiny ESMTP\r\n")
            stream.flush()
            data: list[bytes] = []
            in_data = False
            for line in stream:
                if in_data:
                    if line == b".\r\n":
                        in_data = False
                        self.received.append(b"".join(data))
                        stream.write(b"250 queued\r\n")
                    else:
                        data.append(line)
                        continue
                elif line.upper().startswith(b"EHLO"):
                    stream.write(b"250 tiny\r\n")
                elif line.upper().startswith(b"DATA"):
                    in_data = True
                    stream.write(b"354 go ahead\r\n")
                elif line.upper().startswith(b"QUIT"):
                    stream.write(b"221 bye\r\n")
                    stream.flush()
                    return
                else:
                    stream.write(b"250 ok\r\n")
                stream.flush()

    def close(self) -> None:
        self.listener.close()
        self.thread.join(timeout=10)


@pytest.fixture
def smtp_server() -> Iterator[TinySmtpServer]:
    server = TinySmtpServer()
    yield server
    server.close()


def test_without_smtp_mail_goes_to_the_outbox(
    database: MigratedDatabase, settings: Settings
) -> None:
    # The outbox is encrypted: the command reads it with this installation's master key.
    install_keyring(Keyring.from_settings(settings))
    try:
        with transaction(database.sessions) as db:
            message = mail.send(db, settings, mail.Mail("a@example.com", "Hello", "Body text"))
    finally:
        install_keyring(None)
    assert message.status == "outbox"
    env = {
        **os.environ,
        "KALLGLOT_DATABASE_URL": database.url,
        "KALLGLOT_MASTER_KEY": base64.b64encode(settings.master_key_bytes()).decode(),
    }
    shown = subprocess.run(
        [sys.executable, "-m", "kallglot", "mail", "outbox"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    assert "To: a@example.com" in shown.stdout
    assert "Subject: Hello" in shown.stdout and "Body text" in shown.stdout


def test_with_smtp_mail_is_delivered(
    database: MigratedDatabase, settings: Settings, smtp_server: TinySmtpServer
) -> None:
    configured = settings.model_copy(
        update={"smtp_host": "127.0.0.1", "smtp_port": smtp_server.port, "smtp_starttls": False}
    )
    with transaction(database.sessions) as db:
        message = mail.send(db, configured, mail.Mail("a@example.com", "Hi", "Delivered body"))
    assert message.status == "sent"
    smtp_server.thread.join(timeout=10)
    assert b"Delivered body" in b"".join(smtp_server.received)


def test_when_smtp_refuses_the_mail_stays_in_the_outbox(
    database: MigratedDatabase, settings: Settings
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = int(probe.getsockname()[1])
    configured = settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": closed_port})
    with transaction(database.sessions) as db:
        message = mail.send(db, configured, mail.Mail("a@example.com", "Hi", "Kept"))
    assert message.status == "failed"
    assert message.error
