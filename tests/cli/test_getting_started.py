"""docs/getting-started.md, step 2, followed to the letter: the commands ``make run`` runs, the
address it announces, the agent going available, the page's baresip command dialling it, and
the call ringing at the demo agent, who answers."""

from __future__ import annotations

import json
import os
import queue
import re
import shlex
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import httpx
import pytest

from tests.conftest import FLEURS_DIR
from tests.support.live import free_port
from tests.telephony.baresip_helpers import baresip_config, wav_8k
from tests.telephony.sipp_runner import free_udp_port

REPOSITORY = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(600),
    pytest.mark.skipif(
        shutil.which("baresip") is None, reason="baresip is installed by make setup"
    ),
]

PAGE = REPOSITORY / "docs" / "getting-started.md"
ACCOUNT_LINE = re.compile(r"mkdir -p ~/.baresip && echo '(.+)' >> ~/.baresip/accounts")
ANNOUNCED_SIP = re.compile(r"Call the demo agent from a softphone: (sip:\S+)")


def tagged_block(tag: str) -> str:
    """The fenced block of the page whose info string carries ``tag``."""
    match = re.search(rf"```\w* {tag}\n(.*?)```", PAGE.read_text(encoding="utf-8"), re.S)
    assert match is not None, f"no block tagged {tag} in {PAGE.name}"
    return match.group(1)


def make_run_recipe() -> list[str]:
    """The shell lines of the Makefile's ``run`` target (its ``setup`` step is already done)."""
    makefile = (REPOSITORY / "Makefile").read_text(encoding="utf-8")
    match = re.search(r"^run:.*\n((?:\t.*\n)+)", makefile, re.M)
    assert match is not None
    bin_dir = str(REPOSITORY / ".venv" / "bin")
    return [
        line.strip().replace("$(BIN)", bin_dir).replace("$$", "$")
        for line in match.group(1).splitlines()
    ]


def lines_of(stream: IO[str]) -> queue.Queue[str]:
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in stream], daemon=True).start()
    return lines


def wait_for(condition: Callable[[], Any], within_s: float) -> Any:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"not reached within {within_s} s")


@pytest.fixture
def demo_server(tmp_path: Path) -> Iterator[tuple[str, str, dict[str, str]]]:
    """``make run``'s commands on a fresh var folder and free ports: (base URL, SIP address
    announced, demo credentials)."""
    http_port, sip_port = free_port(), free_udp_port()
    env = {
        **os.environ,
        "KALLGLOT_VAR_DIR": str(tmp_path / "var"),
        "KALLGLOT_SPEECH_MODELS_DIR": str(REPOSITORY / "var" / "models"),
        "KALLGLOT_SIP_LISTEN": f"udp:127.0.0.1:{sip_port}",
    }
    env.pop("KALLGLOT_DATABASE_URL", None)
    *setup, serve = make_run_recipe()
    assert "--port 8000" in serve
    for line in setup:
        subprocess.run(["bash", "-c", line], env=env, check=True, cwd=REPOSITORY, timeout=300)
    server_log = (tmp_path / "server.log").open("wb")
    server = subprocess.Popen(
        ["bash", "-c", serve.replace("--port 8000", f"--port {http_port}")],
        env=env,
        cwd=REPOSITORY,
        stdout=subprocess.PIPE,
        stderr=server_log,
        text=True,
        start_new_session=True,  # the shell and the server it starts stop together
    )
    assert server.stdout is not None
    output = lines_of(server.stdout)
    try:
        announced = None
        while announced is None:
            announced = ANNOUNCED_SIP.search(output.get(timeout=240))
        credentials = json.loads((tmp_path / "var" / "demo-credentials.json").read_text())
        yield f"http://127.0.0.1:{http_port}", announced.group(1), credentials
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        server.stdout.close()
        server_log.close()


def test_a_softphone_following_the_page_rings_the_demo_agent(
    demo_server: tuple[str, str, dict[str, str]], tmp_path: Path
) -> None:
    base_url, announced, credentials = demo_server
    # The page dials what `make run` announces (here on a free port instead of 5070).
    account_line, dial_line = tagged_block("step-2-call").strip().splitlines()
    account = ACCOUNT_LINE.fullmatch(account_line)
    assert account is not None, account_line
    command = shlex.split(dial_line)
    assert command[:2] == ["baresip", "-e"]
    dial = command[2]
    assert re.sub(r":\d+$", "", dial) == "/dial " + re.sub(r":\d+$", "", announced)
    dial = dial.rsplit(":", 1)[0] + ":" + announced.rsplit(":", 1)[1]

    with httpx.Client(base_url=base_url, timeout=30) as agent:
        signed_in = agent.post(
            "/v1/auth/login",
            json={
                "email": credentials["agent_email"],
                "password": credentials["agent_password"],
                "organization_id": credentials["organization_id"],
            },
        )
        assert signed_in.status_code == 200, signed_in.text
        agent.headers["X-CSRF-Token"] = signed_in.json()["csrf_token"]
        # Step 2.1: "set I am to available" (the console's presence select sends this).
        presence = agent.put("/v1/routing/me/presence", json={"presence": "available"})
        assert presence.status_code == 200, presence.text

        clip = wav_8k(tmp_path / "caller.wav", FLEURS_DIR / "fleurs-es-000.ogg")
        home = baresip_config(tmp_path / "baresip", clip, tmp_path / "heard")
        (home / "accounts").write_text(account.group(1) + "\n")  # the page's caller ID
        log = (tmp_path / "baresip.log").open("wb")
        phone = subprocess.Popen(
            [command[0], "-4", "-f", str(home), "-t", "240", command[1], dial],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        try:
            # Step 2.3: the console polls this and shows "Incoming call" with Answer.
            def ringing() -> list[dict[str, Any]]:
                page = agent.get("/v1/calls", params={"outcome": "ringing", "limit": 5})
                assert page.status_code == 200, page.text
                return list(page.json()["data"])

            try:
                call = wait_for(ringing, 90)[0]
            except AssertionError:
                log.flush()
                server_log = (tmp_path / "server.log").read_text(errors="replace")
                phone_log = (tmp_path / "baresip.log").read_text(errors="replace")
                raise AssertionError(f"{phone_log[-3000:]}\n---\n{server_log[-4000:]}") from None
            assert call["direction"] == "inbound"
            answered = agent.post(f"/v1/calls/{call['id']}/answer", json={})
            assert answered.status_code == 200, answered.text
            assert "/connect" in answered.json()["stream"]["url"]
            hangup = agent.post(f"/v1/calls/{call['id']}/hangup", json={})
            assert hangup.status_code == 200, hangup.text
        finally:
            phone.send_signal(signal.SIGTERM)
            try:
                phone.wait(timeout=10)
            except subprocess.TimeoutExpired:
                phone.kill()
                phone.wait(timeout=10)
            log.close()
