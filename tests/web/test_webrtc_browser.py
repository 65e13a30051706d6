"""The agent console's audio over WebRTC, in Debian's Chromium: the agent's fake microphone
(a FLEURS clip as a 48 kHz WAV) reaches the session through the browser's Opus track, and the
caller's translated speech comes back to the page's audio element over the same peer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile
from playwright.sync_api import Page, expect

from kallglot.accounts.permissions import Role
from kallglot.realtime.protocol import Party
from kallglot.speech.audio import SAMPLE_RATE, decode_file, resample
from kallglot.telephony.media.codecs import OPUS_RATE
from kallglot.telephony.webrtc import WebRtcLegs
from tests.conftest import sqlite_only
from tests.factories import Identity
from tests.realtime.conftest import LiveServer, mulaw_clip
from tests.support.waiting import wait_until
from tests.web.browsing import Caller, posted, sign_in, words
from tests.web.conftest import AGENT_CLIP, screenshot

pytestmark = [pytest.mark.slow, sqlite_only]

# The agent stays silent until the caller's translation has played to them (speaking over
# it would be a barge-in that drops it), with room for a loaded machine.
AGENT_LEAD_SILENCE_S = 16

# Every RTCPeerConnection the page makes, kept where the test can read its stats.
RECORD_PEERS = """
const NativePeer = window.RTCPeerConnection;
window.kallglotPeers = [];
window.RTCPeerConnection = class extends NativePeer {
  constructor(...args) {
    super(...args);
    window.kallglotPeers.push(this);
  }
};
"""

INBOUND_AUDIO = """
async () => {
  const found = [];
  for (const peer of window.kallglotPeers) {
    const audio = { state: peer.connectionState, packets: 0, energy: 0 };
    const stats = await peer.getStats();
    stats.forEach((s) => {
      if (s.type === "inbound-rtp" && s.kind === "audio") {
        audio.packets = s.packetsReceived;
        audio.energy = s.totalAudioEnergy ?? 0;
      }
    });
    found.push(audio);
  }
  return found;
}
"""


@pytest.fixture(scope="module")
def agent_microphone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The agent's microphone as Chromium's fake capture reads it: 48 kHz, as WebRTC sends."""
    speech = decode_file(AGENT_CLIP)
    silence = np.zeros(SAMPLE_RATE * AGENT_LEAD_SILENCE_S, dtype=np.int16)
    tail = np.zeros(SAMPLE_RATE * 30, dtype=np.int16)
    wide = resample(np.concatenate([silence, speech, tail]), SAMPLE_RATE, OPUS_RATE)
    path = tmp_path_factory.mktemp("mic48k") / "agent-48k.wav"
    soundfile.write(path, wide, OPUS_RATE, subtype="PCM_16")
    return path


def inbound_audio(page: Page) -> dict[str, Any]:
    """The page's one peer: its state, and the audio received so far (none before the
    first packet, when the browser has no inbound-rtp stats yet)."""
    found: list[dict[str, Any]] = page.evaluate(INBOUND_AUDIO)
    assert len(found) == 1, found
    return found[0]


def test_the_agent_talks_and_listens_over_webrtc(
    identity: Identity, web_server: LiveServer, page: Page
) -> None:
    legs: WebRtcLegs = web_server.app.state.webrtc
    organization = identity.organization()
    agent = identity.user(organization, Role.AGENT, name="Wes WebRTC")
    page.add_init_script(RECORD_PEERS)
    sign_in(page, web_server, agent)
    page.wait_for_url("**/app/console")

    page.get_by_text("Translated session (browser only)").click()
    page.get_by_label("Caller's language").select_option("es")
    page.get_by_label("My language").select_option("en")
    with (
        page.expect_response(lambda r: "/webrtc?token=" in r.url) as offered,
        page.expect_response(posted("/v1/sessions")) as started,
    ):
        page.get_by_role("button", name="Start session").click()
    session = started.value.json()
    assert offered.value.status == 200, offered.value.text()
    expect(page.locator("[data-audio-state]")).to_have_text("Audio: WebRTC")
    wait_until(lambda: inbound_audio(page)["state"] == "connected", "no ICE/DTLS")
    leg = legs.get(session["id"], Party.AGENT)
    assert leg is not None
    # The microphone's track arrives (silence first), and the server sends its own track.
    wait_until(lambda: leg.frames_received > 50, "no audio from the browser")
    wait_until(lambda: inbound_audio(page)["packets"] > 50, "no audio to the browser")
    quiet_energy = inbound_audio(page)["energy"]

    # The caller speaks Spanish over the session WebSocket; its English translation is
    # spoken into the agent's WebRTC track.
    clip, reference = mulaw_clip("es", 3)
    caller = Caller(session["stream"]["url"], session["stream"]["token"], clip)
    caller.start()
    final = page.locator("[data-transcript] tr.final.speaker-customer").first
    expect(final).to_be_visible(timeout=45_000)
    assert len(words(final.locator("td").nth(2).inner_text()) & words(reference)) >= 3
    wait_until(lambda: leg.outbound.speech_frames_sent > 25, "no translated speech sent")
    wait_until(
        lambda: inbound_audio(page)["energy"] > quiet_energy + 0.05,
        "the translated speech did not play in the browser",
    )
    screenshot(page, "console-webrtc-mid-call")

    # The agent's microphone (after its lead silence) reached the caller, translated.
    assert caller.agent_translated.wait(timeout=60), [e["type"] for e in caller.heard.events]
    agent_final = caller.heard.of("transcript.final", speaker="agent")[0]
    agent_reference = AGENT_CLIP.with_suffix(".txt").read_text()
    assert len(words(agent_final["text"]) & words(agent_reference)) >= 3, agent_final["text"]
    assert agent_final["translation"]["language"] == "es"
    assert agent_final["translation"]["text"].strip()
    expect(page.locator("[data-transcript] tr.final.speaker-agent").first).to_be_visible()

    page.get_by_role("button", name="Hang up").click()
    expect(page.locator("[data-call-status]")).to_contain_text("ended")
    caller.join(timeout=10)
    wait_until(lambda: len(legs) == 0, "the agent's peer outlived the call")
