"""The audio edge of the phone and browser legs: codecs, resampling, jitter buffer, pacing."""

from kallglot.telephony.media.codecs import Codec, Opus, Pcma, Pcmu
from kallglot.telephony.media.jitter import JitterBuffer, JitterStats, Played
from kallglot.telephony.media.pacer import Pacer
from kallglot.telephony.media.resample import StreamResampler

__all__ = [
    "Codec",
    "JitterBuffer",
    "JitterStats",
    "Opus",
    "Pacer",
    "Pcma",
    "Pcmu",
    "Played",
    "StreamResampler",
]
