"""The capability table: which engine serves each language and pair, and how well.

The registry picks engines from these rows (best measured quality first, among the
engines installed), never from if-chains. Figures come from ``bench/speech.py`` on the
shared FLEURS clips on a 2-core machine (WER: word error rate, lower is better;
telephone: 8 kHz G.711 mu-law round trip), MT quality from chrF on contact-centre
sentences (shared/reference/speech-engines.md); ``None`` means not measured.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from importlib import resources
from typing import Literal

MtKind = Literal["text", "speech"]

LANGUAGES: dict[str, str] = {
    "de": "German",
    "en": "English",
    "es": "Spanish",
    "fr": "French",
    "it": "Italian",
    "pt": "Portuguese",
}


@dataclass(frozen=True, slots=True)
class AsrCapability:
    language: str
    engine: str
    wer_clean: float | None
    wer_telephone: float | None
    rtf: float | None


@dataclass(frozen=True, slots=True)
class MtCapability:
    """``kind="speech"``: the engine takes the source *speech* (Whisper's translate task)."""

    source: str
    target: str
    engine: str
    kind: MtKind
    quality_chrf: float | None
    ms_per_sentence: float | None


@dataclass(frozen=True, slots=True)
class TtsCapability:
    """A voice. ``wer_telephone``: Whisper base's word error rate reading the voice back
    after a phone line; ``first_audio_ms``: until the first audio of a short clause;
    ``fallback``: used only when no other voice for the language is installed."""

    language: str
    engine: str
    voice: str
    naturalness: int  # 3 natural, 2 intelligible, 1 robotic
    first_audio_ms: float | None = None
    wer_telephone: float | None = None
    rtf: float | None = None
    fallback: bool = False


# Measured by bench/speech.py (see docs/speech.md for the run).
ASR: tuple[AsrCapability, ...] = (
    AsrCapability("de", "whisper-base", 0.167, 0.193, 0.05),
    AsrCapability("en", "whisper-base", 0.087, 0.184, 0.05),
    AsrCapability("es", "whisper-base", 0.084, 0.076, 0.05),
    AsrCapability("fr", "whisper-base", 0.312, 0.416, 0.06),
    AsrCapability("pt", "whisper-base", 0.216, 0.224, 0.05),
)

MT: tuple[MtCapability, ...] = (
    MtCapability("en", "pt", "bergamot", "text", 81.0, 17.0),
    MtCapability("pt", "en", "bergamot", "text", 79.0, 17.0),
    MtCapability("en", "es", "apertium", "text", 49.0, 3.0),
    MtCapability("es", "en", "apertium", "text", 47.0, 3.0),
    MtCapability("es", "pt", "apertium", "text", 66.0, 3.0),
    MtCapability("pt", "es", "apertium", "text", 63.0, 2.0),
    MtCapability("fr", "es", "apertium", "text", None, 4.0),
    MtCapability("es", "fr", "apertium", "text", None, 5.0),
    # Whisper base translates speech in any of its languages straight to English.
    MtCapability("de", "en", "whisper-translate", "speech", None, None),
    MtCapability("fr", "en", "whisper-translate", "speech", None, None),
    MtCapability("es", "en", "whisper-translate", "speech", None, None),
    MtCapability("pt", "en", "whisper-translate", "speech", None, None),
)

# What a caller must understand: read-back WER over the phone line at most this (French:
# Whisper base's own ceiling on real French speech), first audio of a short clause within
# FIRST_AUDIO_TARGET_MS.
WER_BOUND: dict[str, float] = {
    "en": 0.10,
    "de": 0.15,
    "es": 0.15,
    "it": 0.15,
    "pt": 0.15,
    "fr": 0.35,
}
FIRST_AUDIO_TARGET_MS = 300.0
ESPEAK_VOICES = {
    "en": "en-us",
    "de": "de",
    "es": "es-419",
    "fr": "fr-fr",
    "it": "it",
    "pt": "pt-br",
}

_VOICES: tuple[TtsCapability, ...] = (
    TtsCapability("en", "piper", "en_US-joe-medium", 3),
    TtsCapability("de", "svox-pico", "de-DE", 2),
    TtsCapability("es", "svox-pico", "es-ES", 2),
    TtsCapability("es", "kokoro", "ef_dora", 3),
    TtsCapability("es", "kokoro", "em_alex", 3),
    TtsCapability("fr", "svox-pico", "fr-FR", 2),
    TtsCapability("fr", "kokoro", "ff_siwis", 3),
    TtsCapability("it", "svox-pico", "it-IT", 2),
    TtsCapability("it", "kokoro", "if_sara", 3),
    TtsCapability("it", "kokoro", "im_nicola", 3),
    TtsCapability("pt", "kokoro", "pf_dora", 3),
    TtsCapability("pt", "kokoro", "pm_alex", 3),
    *(
        TtsCapability(lang, "espeak-ng", voice, 1, fallback=True)
        for lang, voice in ESPEAK_VOICES.items()
    ),
)


def _measured(rows: tuple[TtsCapability, ...]) -> tuple[TtsCapability, ...]:
    """The voices with the figures ``bench/voices.py --record`` wrote (data/voices.json)."""
    text = resources.files("kallglot.speech").joinpath("data/voices.json").read_text("utf-8")
    figures = {(f["language"], f["engine"], f["voice"]): f for f in json.loads(text)["voices"]}
    out = []
    for row in rows:
        found = figures.get((row.language, row.engine, row.voice))
        if found is not None:
            row = replace(
                row,
                wer_telephone=found["wer"],
                first_audio_ms=found["first_audio_ms"],
                rtf=found["rtf"],
            )
        out.append(row)
    return tuple(out)


TTS: tuple[TtsCapability, ...] = _measured(_VOICES)

# Apertium pairs by (source, target) → Debian mode name.
APERTIUM_MODES: dict[tuple[str, str], str] = {
    ("en", "es"): "eng-spa",
    ("es", "en"): "spa-eng",
    ("es", "pt"): "es-pt_BR",
    ("pt", "es"): "pt-es",
    ("fr", "es"): "fr-es",
    ("es", "fr"): "es-fr",
}


def asr_languages() -> frozenset[str]:
    return frozenset(row.language for row in ASR)
