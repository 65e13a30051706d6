"""Kokoro-82M (int8 ONNX, Apache-2.0): natural voices for es, fr, it and pt-BR.

Kokoro reads phonemes, not letters. They come from the espeak-ng *program* (already
installed for the fallback voice), run as a separate process per clause piece: the
Python ``phonemizer`` library that Kokoro's own pipeline uses is GPL-3.0 and would be
linked into our process, so we do not use it. espeak's IPA is mapped onto Kokoro's
symbols the way Kokoro's training data was (its ``misaki`` EspeakG2P table: tie-barred
diphthongs and affricates become single symbols).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import threading
from importlib import resources
from typing import Any

import numpy as np

from kallglot.speech import models
from kallglot.speech.audio import SAMPLE_RATE, Int16Array, resample
from kallglot.speech.errors import EngineError, ModelNotInstalledError, UnsupportedLanguageError

KOKORO_RATE = 24_000
STYLE_DIM = 256
MAX_TOKENS = 510  # the model's context, less the two pad tokens
ESPEAK_TIMEOUT_S = 30.0
# Kokoro's language → espeak-ng voice used to phonemise it (pt is Brazilian Portuguese).
ESPEAK_LANGUAGE = {"es": "es", "fr": "fr-fr", "it": "it", "pt": "pt-br"}
VOICES = {
    "ef_dora": "es",
    "em_alex": "es",
    "ff_siwis": "fr",
    "if_sara": "it",
    "im_nicola": "it",
    "pf_dora": "pt",
    "pm_alex": "pt",
}
# espeak's tie-barred pairs → Kokoro's single symbols.
_TIED = (
    ("a^ɪ", "I"),  # noqa: RUF001 - IPA, not Latin i
    ("a^ʊ", "W"),
    ("d^z", "ʣ"),
    ("d^ʒ", "ʤ"),
    ("e^ɪ", "A"),  # noqa: RUF001 - IPA, not Latin i
    ("o^ʊ", "O"),
    ("ə^ʊ", "Q"),
    ("s^s", "S"),
    ("t^s", "ʦ"),
    ("t^ʃ", "ʧ"),
    ("ɔ^ɪ", "Y"),  # noqa: RUF001 - IPA, not Latin i
)
_PUNCTUATION = re.compile(r"\s*([,.;:!?…]+)\s*")
_LANGUAGE_FLAG = re.compile(r"\([a-z-]+\)")  # espeak marks a switch of language: (en)…(es)


def _vocab() -> dict[str, int]:
    text = resources.files("kallglot.speech").joinpath("data/kokoro_vocab.json").read_text("utf-8")
    vocab: dict[str, int] = json.loads(text)
    return vocab


class KokoroSynthesizer:
    """One Kokoro voice; the ONNX session is shared by every voice in the process."""

    name = "kokoro"

    def __init__(self, language: str, voice: str) -> None:
        if VOICES.get(voice) != language:
            raise UnsupportedLanguageError(f"no Kokoro voice {voice!r} for {language!r}")
        self.language = language
        self.voice = voice
        self._espeak = shutil.which("espeak-ng")
        if self._espeak is None:
            raise ModelNotInstalledError(
                "Kokoro needs the espeak-ng program for phonemes (Debian espeak-ng)"
            )
        style_path = models.kokoro_voice_path(voice)
        if not style_path.is_file():
            raise ModelNotInstalledError(
                f"the Kokoro voice {voice} is not installed ({style_path}): "
                "run `kallglot models install`"
            )
        self._style = np.fromfile(style_path, dtype=np.float32).reshape(-1, STYLE_DIM)
        self._session = _session()
        self._vocab = _vocab()

    def phonemes(self, text: str) -> str:
        """Kokoro's phoneme string for ``text``, punctuation kept where Kokoro reads it."""
        out: list[str] = []
        for index, piece in enumerate(_PUNCTUATION.split(text)):
            if index % 2:  # a run of punctuation
                out.append(piece[0] + " ")
            elif piece.strip():
                out.append(self._espeak_ipa(piece))
        return "".join(out).strip()

    def _espeak_ipa(self, text: str) -> str:
        assert self._espeak is not None
        try:
            done = subprocess.run(  # noqa: S603 - fixed argv; text goes in on stdin
                [self._espeak, "-q", "--ipa", "--tie=^", "-v", ESPEAK_LANGUAGE[self.language]],
                input=text.encode("utf-8"),
                capture_output=True,
                timeout=ESPEAK_TIMEOUT_S,
                check=True,
            )
        except (subprocess.SubprocessError, OSError) as exc:
            raise EngineError(f"espeak-ng phonemes failed: {type(exc).__name__}") from exc
        ipa = " ".join(_LANGUAGE_FLAG.sub("", done.stdout.decode("utf-8")).split())
        for tied, symbol in _TIED:
            ipa = ipa.replace(tied, symbol)
        return ipa.replace("^", "").replace("-", "")

    def synthesize(self, text: str, *, speed: float = 1.0) -> Int16Array:
        tokens = [self._vocab[c] for c in self.phonemes(text) if c in self._vocab][:MAX_TOKENS]
        if not tokens:
            return np.zeros(0, dtype=np.int16)
        # The style vector is chosen by the length of what is spoken.
        style = self._style[min(len(tokens), len(self._style)) - 1].reshape(1, STYLE_DIM)
        with _session_lock:
            (audio, *_) = self._session.run(
                None,
                {
                    "tokens": np.array([[0, *tokens, 0]], dtype=np.int64),
                    "style": style,
                    "speed": np.array([speed], dtype=np.float32),
                },
            )
        pcm = np.clip(np.asarray(audio, dtype=np.float32).ravel(), -1.0, 1.0)
        return resample((pcm * 32767).astype(np.int16), KOKORO_RATE, SAMPLE_RATE)


_session_lock = threading.Lock()
_shared: list[Any] = []  # onnxruntime ships no type information


def _session() -> Any:
    """The one Kokoro ONNX session of this process (82 MB of weights, loaded once)."""
    with _session_lock:
        if not _shared:
            import onnxruntime  # type: ignore[import-untyped]

            path = models.install_kokoro_model()  # a no-op once joined; waits on the lock
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = os.cpu_count() or 1
            _shared.append(
                onnxruntime.InferenceSession(
                    str(path), sess_options=options, providers=["CPUExecutionProvider"]
                )
            )
        return _shared[0]
