"""Language identification of speech, for a call leg whose language is not given."""

from __future__ import annotations

from kallglot.speech.asr import whisper
from kallglot.speech.audio import SAMPLE_RATE, Int16Array
from kallglot.speech.capabilities import asr_languages

# Whisper's detector looks at the first 30 s; 8 s of speech is plenty and cheaper.
MAX_LANGID_SAMPLES = 8 * SAMPLE_RATE


def identify_language(
    samples: Int16Array, candidates: frozenset[str] | None = None
) -> tuple[str, float]:
    """The spoken language (ISO 639-1) and its probability among ``candidates``.

    Candidates default to the languages this install recognises; restricting them
    matters: on short or synthetic speech Whisper alone may pick an unrelated language.
    """
    pool = candidates if candidates is not None else asr_languages()
    return whisper().detect_language(samples[:MAX_LANGID_SAMPLES], pool)
