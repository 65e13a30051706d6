"""The capability table: which engine serves each language and pair, and how well.

The registry picks engines from these rows (best measured quality first, among the
engines installed), never from if-chains. Figures come from ``bench/speech.py`` on the
shared FLEURS clips on a 2-core machine (WER: word error rate, lower is better;
telephone: 8 kHz G.711 mu-law round trip), MT quality from chrF on contact-centre
sentences (shared/reference/speech-engines.md); ``None`` means not measured.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

MtKind = Literal["text", "speech"]

LANGUAGES: dict[str, str] = {
    "de": "German",
    "en": "English",
    "es": "Spanish",
    "fr": "French",
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
    language: str
    engine: str
    voice: str
    naturalness: int  # 3 natural, 2 intelligible, 1 robotic
    first_audio_ms: float | None


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

TTS: tuple[TtsCapability, ...] = (
    TtsCapability("en", "piper", "en_US-joe-medium", 3, 35.0),
    TtsCapability("en", "espeak-ng", "en-us", 1, 10.0),
    TtsCapability("de", "espeak-ng", "de", 1, 10.0),
    TtsCapability("es", "espeak-ng", "es-419", 1, 10.0),
    TtsCapability("fr", "espeak-ng", "fr-fr", 1, 10.0),
    TtsCapability("pt", "espeak-ng", "pt-br", 1, 10.0),
)

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
