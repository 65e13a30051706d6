"""Spoken prompts (the overflow message) in the caller's language, with our own voices.

A carrier is handed a URL to play (``<Play>`` in TwiML) instead of its own text-to-speech,
which speaks English unless told otherwise and never with the voice the registry picked for
the language. Prompts are synthesised once and kept: the same message is played to every
caller who reaches a full queue.
"""

from __future__ import annotations

import hashlib
import io
import threading
import wave
from collections import OrderedDict

from kallglot.speech import registry
from kallglot.speech.audio import SAMPLE_RATE
from kallglot.speech.errors import UnsupportedLanguageError

PROMPT_PATH = "/v1/telephony/twilio/prompts/{prompt_id}.wav"
PROMPT_ID = r"^[0-9a-f]{32}$"


class Prompts:
    """Synthesised prompts by id (a hash of language and text), the most recent kept."""

    def __init__(self, max_prompts: int = 64) -> None:
        self._max = max_prompts
        self._cache: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def prepare(self, language: str, text: str) -> str | None:
        """Blocking (synthesis): the id of ``text`` spoken in ``language``, or ``None`` when
        no voice for it is installed."""
        prompt_id = hashlib.sha256(f"{language}\0{text}".encode()).hexdigest()[:32]
        with self._lock:
            if prompt_id in self._cache:
                self._cache.move_to_end(prompt_id)
                return prompt_id
        try:
            samples = registry.synthesizer(language).synthesize(text)
        except UnsupportedLanguageError:
            return None
        buffer = io.BytesIO()
        with wave.open(buffer, "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(SAMPLE_RATE)
            out.writeframes(samples.astype("<i2").tobytes())
        with self._lock:
            self._cache[prompt_id] = buffer.getvalue()
            while len(self._cache) > self._max:
                self._cache.popitem(last=False)
        return prompt_id

    def get(self, prompt_id: str) -> bytes | None:
        with self._lock:
            return self._cache.get(prompt_id)
