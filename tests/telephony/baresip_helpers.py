"""Helpers shared by several test modules."""

from __future__ import annotations

import wave
from pathlib import Path

from kallglot.speech.audio import decode_file, resample
from tests.telephony.sipp_runner import free_udp_port


def wav_8k(path: Path, source: Path, tail_silence_s: float = 180.0) -> Path:
    """The clip, then silence: baresip hangs up when its aufile source ends, and the call
    must last until the agent's translated answer has been heard."""
    samples = resample(decode_file(source), 16000, 8000)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(samples.tobytes() + b"\0\0" * int(8000 * tail_silence_s))
    return path


def baresip_config(directory: Path, clip: Path, recordings: Path) -> Path:
    """A throwaway baresip home: no sound card, aufile as microphone, sndfile records."""
    directory.mkdir()
    recordings.mkdir()
    sip_port, rtp_base = free_udp_port(), 55000
    (directory / "config").write_text(
        "\n".join(
            [
                "poll_method epoll",
                f"sip_listen 127.0.0.1:{sip_port}",
                "net_interface 127.0.0.1",
                f"audio_source aufile,{clip}",
                "audio_player aufile,/dev/null",
                "audio_alert aufile,/dev/null",
                "ausrc_srate 8000",
                "auplay_srate 8000",
                "ausrc_channels 1",  # the clip is mono; baresip up-mixes for stereo Opus
                "auplay_channels 1",
                f"rtp_ports {rtp_base}-{rtp_base + 999}",
                "module_path /usr/lib/baresip/modules",
                "module opus.so",  # loaded first: offered first
                "module g711.so",
                "module aufile.so",
                "module sndfile.so",
                "module_app account.so",
                "module_app menu.so",
                f"snd_path {recordings}",
                "",
            ]
        )
    )
    (directory / "accounts").write_text(
        "<sip:phone@127.0.0.1>;regint=0;audio_codecs=opus/48000/2,PCMU\n"
    )
    (directory / "contacts").write_text("")
    return directory
