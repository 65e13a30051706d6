"""The WebRTC leg: a browser (the agent's console) joins a session with an SDP offer/answer
over HTTP; its Opus track is the party's speech, the translation comes back as a track."""

from kallglot.telephony.webrtc.peer import WebRtcLeg, WebRtcLegs
from kallglot.telephony.webrtc.tracks import TranslatedSpeechTrack, mono_pcm

__all__ = ["TranslatedSpeechTrack", "WebRtcLeg", "WebRtcLegs", "mono_pcm"]
