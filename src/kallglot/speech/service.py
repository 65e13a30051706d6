"""Async entry points for the real-time path: every model call runs in the speech
executor, never on the event loop."""

from __future__ import annotations

from collections.abc import Iterable

from kallglot.speech import registry
from kallglot.speech.asr import Task, Transcript
from kallglot.speech.audio import Int16Array
from kallglot.speech.executor import Lane, run_blocking


async def translate_text(text: str, source: str, target: str) -> str:
    """Translate one phrase with the best installed text route for the pair."""
    # One job: the engine lookup (a load on first use) and its work, so a translation queues
    # once on its lane, not twice.
    return await run_blocking(Lane.TRANSLATION, _translate, text, source, target)


async def transcribe(
    samples: Int16Array, language: str, *, task: Task = "transcribe"
) -> Transcript:
    """Recognise one whole utterance (16 kHz int16)."""
    return await run_blocking(Lane.RECOGNITION, _transcribe, samples, language, task)


def _translate(text: str, source: str, target: str) -> str:
    return registry.translator(source, target).translate(text, source, target)


def _transcribe(samples: Int16Array, language: str, task: Task) -> Transcript:
    return registry.speech_to_text(language).transcribe(samples, language, task=task)


def warm_up(languages: Iterable[str], pairs: Iterable[tuple[str, str]] = ()) -> None:
    """Load the engines a node will need before the first call arrives (blocking;
    call it at start-up): Whisper, the voices, and each pair's translators."""
    for language in languages:
        registry.speech_to_text(language)
        registry.synthesizer(language).synthesize("Hello.")
    for source, target in pairs:
        registry.translator(source, target).translate("Hello.", source, target)
