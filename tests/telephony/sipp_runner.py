"""SIPp placing calls into SIP sessions (the scenario dials each session id in turn)."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

SCENARIO = Path(__file__).parent / "sipp" / "uac_sessions.xml"


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def run_sipp(
    target: str, session_ids: list[str], tmp_path: Path, rate: int, hold_ms: int = 300
) -> subprocess.CompletedProcess[str]:
    """One call per session at ``rate`` calls/s, each held ``hold_ms``, through ``target``
    (host:port of the gateway or of a proxy); SIPp exits 0 only if every call completed."""
    injection = tmp_path / "sessions.csv"
    injection.write_text("SEQUENTIAL\n" + "".join(f"{sid};\n" for sid in session_ids))
    command = ["sipp", target, "-sf", str(SCENARIO), "-inf", str(injection)]
    command += ["-i", "127.0.0.1", "-p", str(free_udp_port()), "-mp", str(free_udp_port())]
    command += ["-m", str(len(session_ids)), "-r", str(rate), "-d", str(hold_ms)]
    command += ["-nostdin", "-timeout", "60s", "-timeout_error", "-trace_err"]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=90, check=False, cwd=tmp_path
    )
