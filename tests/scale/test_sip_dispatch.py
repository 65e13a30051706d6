"""Kamailio's dispatcher (deploy/kamailio) spreads real SIP calls over two back-ends.

The back-ends are two SIPp UAS standing in for media nodes, or two real Kallglot nodes
(each its own app with its SIP gateway, on one database); the caller is a SIPp UAC that
places the calls through the dispatcher and fails unless every call completes.
"""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from kallglot.api.app import create_app
from kallglot.core.settings import Settings
from kallglot.telephony.sip import SipGateway
from tests.conftest import MigratedDatabase
from tests.realtime.conftest import new_session, serving
from tests.support.tools import required
from tests.support.waiting import wait_until
from tests.telephony.sipp_runner import free_udp_port, run_sipp

ROOT = Path(__file__).resolve().parents[2]
START = ROOT / "deploy" / "kamailio" / "start.sh"
CALLS = 10


@pytest.fixture(autouse=True)
def kamailio_and_sipp_installed() -> None:
    required("kamailio", "kamailio")
    required("sipp", "sip-tester")


@contextmanager
def running(command: list[str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        try:
            yield process
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def uas(port: int, tmp_path: Path) -> list[str]:
    messages = tmp_path / f"uas-{port}.log"
    command = ["sipp", "-sn", "uas", "-i", "127.0.0.1", "-p", str(port), "-nostdin"]
    return [*command, "-trace_msg", "-message_file", str(messages)]


def invites_received(port: int, tmp_path: Path) -> int:
    log = tmp_path / f"uas-{port}.log"
    if not log.exists():
        return 0
    return sum(line.startswith("INVITE sip:") for line in log.read_text().splitlines())


def place_calls(proxy_port: int, tmp_path: Path) -> subprocess.CompletedProcess[bytes]:
    command = ["sipp", "-sn", "uac", f"127.0.0.1:{proxy_port}", "-i", "127.0.0.1"]
    command += ["-p", str(free_udp_port()), "-m", str(CALLS), "-r", "20", "-d", "100"]
    command += ["-nostdin", "-timeout", "30s", "-timeout_error"]
    return subprocess.run(command, capture_output=True, timeout=60, check=False, cwd=tmp_path)


def wait_for_proxy(log: Path) -> None:
    wait_until(
        lambda: log.exists() and "SO_RCVBUF is finally" in log.read_text(), "kamailio started"
    )


def test_calls_through_the_dispatcher_spread_over_both_media_nodes(tmp_path: Path) -> None:
    node_ports = [free_udp_port(), free_udp_port()]
    proxy_port = free_udp_port()
    backends = [f"sip:127.0.0.1:{port}" for port in node_ports]
    with ExitStack() as stack:
        for port in node_ports:
            stack.enter_context(running(uas(port, tmp_path), tmp_path / f"uas-{port}.out"))
        proxy_log = tmp_path / "kamailio.log"
        command = ["bash", str(START), "--listen", f"udp:127.0.0.1:{proxy_port}", *backends]
        stack.enter_context(running(command, proxy_log))
        wait_for_proxy(proxy_log)

        result = place_calls(proxy_port, tmp_path)

    assert result.returncode == 0, result.stdout.decode(errors="replace")[-2000:]
    received = [invites_received(port, tmp_path) for port in node_ports]
    assert sum(received) == CALLS
    assert all(count > 0 for count in received), received


def test_calls_through_the_dispatcher_spread_over_two_kallglot_nodes(
    tmp_path: Path, settings: Settings, database: MigratedDatabase, organization_id: str
) -> None:
    node_settings = settings.model_copy(
        update={
            "sip_listen": "udp:127.0.0.1:0",
            "sip_rtp_port_min": 35000,
            "sip_rtp_port_max": 39999,
            "max_concurrent_calls": CALLS,
        }
    )
    session_ids = [
        new_session(database, organization_id, mode="transcription", routing={"type": "sip"})[0]
        for _ in range(CALLS)
    ]
    proxy_port = free_udp_port()
    with ExitStack() as stack:
        apps = [create_app(node_settings) for _ in range(2)]
        for app in apps:  # disposed after its server has shut down (exit runs in reverse)
            stack.callback(app.state.engine.dispose)
        nodes = [stack.enter_context(serving(app)) for app in apps]
        gateways: list[SipGateway] = [node.app.state.sip_gateway for node in nodes]
        backends = [f"sip:127.0.0.1:{gateway.port}" for gateway in gateways]
        proxy_log = tmp_path / "kamailio.log"
        command = ["bash", str(START), "--listen", f"udp:127.0.0.1:{proxy_port}", *backends]
        stack.enter_context(running(command, proxy_log))
        wait_for_proxy(proxy_log)

        result = run_sipp(f"127.0.0.1:{proxy_port}", session_ids, tmp_path, rate=10)

        assert result.returncode == 0, result.stdout[-2000:] + proxy_log.read_text()[-2000:]
        answered = [gateway.calls_answered for gateway in gateways]
        assert sum(answered) == CALLS
        assert all(count > 0 for count in answered), answered
        # BYEs came through the proxy
        wait_until(lambda: not any(g.dialogs for g in gateways), "a node kept a dialog")


def test_calls_go_to_the_surviving_node_when_one_is_down(tmp_path: Path) -> None:
    alive, dead = free_udp_port(), free_udp_port()
    proxy_port = free_udp_port()
    with ExitStack() as stack:
        stack.enter_context(running(uas(alive, tmp_path), tmp_path / "uas.out"))
        proxy_log = tmp_path / "kamailio.log"
        backends = [f"sip:127.0.0.1:{alive}", f"sip:127.0.0.1:{dead}"]
        command = ["bash", str(START), "--listen", f"udp:127.0.0.1:{proxy_port}", *backends]
        stack.enter_context(running(command, proxy_log))
        wait_for_proxy(proxy_log)

        result = place_calls(proxy_port, tmp_path)

    assert result.returncode == 0, result.stdout.decode(errors="replace")[-2000:]
    assert invites_received(alive, tmp_path) == CALLS
