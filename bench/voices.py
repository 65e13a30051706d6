"""Voice intelligibility: every installed voice, read back by Whisper over a phone line.

    .venv/bin/python bench/voices.py [--languages es,pt] [--sentences N] [--json PATH] [--record]

For each language and each installed voice of the capability table, the voice speaks the
contact-centre sentences in ``bench/voices_sentences/<lang>.txt`` through the real
streaming path (``tts.stream``: clause by clause, first words ahead), the audio goes
through the phone line (``telephone_band``: 8 kHz G.711 mu-law), and Whisper base reads it
back with the language given. Printed per voice: WER, real-time factor, time to the first
audio of each sentence (median and worst), and the peak memory of the process that
synthesised (each voice runs in its own child process, so its memory is its own).
``--record`` writes the figures to ``src/kallglot/speech/data/voices.json``, where the
registry reads them to pick each language's voice.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SENTENCES = ROOT / "bench" / "voices_sentences"
RECORD = ROOT / "src" / "kallglot" / "speech" / "data" / "voices.json"
LANGUAGES = ("en", "de", "es", "fr", "it", "pt")


def sentences(language: str, limit: int) -> list[str]:
    lines = (SENTENCES / f"{language}.txt").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip()][:limit]


async def _speak_all(voice: Any, texts: list[str]) -> tuple[list[np.ndarray], list[float], float]:
    from kallglot.speech import tts

    audio, firsts, spent = [], [], 0.0
    for text in texts:
        started = time.perf_counter()
        chunks = []
        async for chunk in tts.stream(voice, text):
            if not chunks:
                firsts.append(time.perf_counter() - started)
            chunks.append(chunk)
        spent += time.perf_counter() - started
        audio.append(np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16))
    return audio, firsts, spent


def _peak_mb() -> float:
    """This process's peak resident memory. Not ``ru_maxrss``: Linux carries that over
    ``exec`` from the parent (the bench, holding Whisper); ``VmHWM`` starts afresh."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def speak(language: str, engine: str, voice_name: str, limit: int, out: Path) -> None:
    """Child process: synthesise the sentences with one voice; audio and timings to ``out``."""
    from kallglot.speech import capabilities as caps
    from kallglot.speech import registry

    row = next(
        r for r in caps.TTS if (r.language, r.engine, r.voice) == (language, engine, voice_name)
    )
    voice = registry.voice_for(row)
    voice.synthesize("OK.")  # load and warm the engine, as a node does before its first call
    audio, firsts, spent = asyncio.run(_speak_all(voice, sentences(language, limit)))
    np.savez(out.with_suffix(".npz"), *audio)
    out.with_suffix(".json").write_text(
        json.dumps(
            {
                "first_audio_s": firsts,
                "synthesis_s": spent,
                "peak_mb": _peak_mb(),
            }
        )
    )


def measure(row: Any, limit: int, folder: Path) -> dict[str, Any]:
    from kallglot.speech import audio as audio_mod
    from kallglot.speech.asr import whisper
    from kallglot.speech.metrics import word_error_rate

    out = folder / f"{row.language}-{row.engine}-{row.voice}"
    subprocess.run(
        [
            sys.executable,
            __file__,
            "--speak",
            row.language,
            row.engine,
            row.voice,
            "--sentences",
            str(limit),
            "--out",
            str(out),
        ],
        check=True,
    )
    timings = json.loads(out.with_suffix(".json").read_text())
    with np.load(out.with_suffix(".npz")) as saved:
        spoken = [saved[f"arr_{i}"] for i in range(len(saved.files))]
    texts = sentences(row.language, limit)
    engine = whisper()
    heard = [
        engine.transcribe(audio_mod.telephone_band(samples), row.language).text
        for samples in spoken
    ]
    seconds = sum(audio_mod.duration_s(s) for s in spoken)
    firsts = timings["first_audio_s"]
    return {
        "language": row.language,
        "engine": row.engine,
        "voice": row.voice,
        "fallback": row.fallback,
        "sentences": len(texts),
        "wer": round(word_error_rate(texts, heard), 3),
        "rtf": round(timings["synthesis_s"] / seconds, 3) if seconds else None,
        "first_audio_ms": round(1000 * statistics.median(firsts), 1),
        "first_audio_max_ms": round(1000 * max(firsts), 1),
        "peak_mb": round(timings["peak_mb"], 1),
        "worst": max(
            zip(texts, heard, strict=True), key=lambda pair: word_error_rate([pair[0]], [pair[1]])
        ),
    }


def picks(results: list[dict[str, Any]]) -> dict[str, str]:
    """The voice the registry would pick per language with these figures."""
    from kallglot.speech import capabilities as caps
    from kallglot.speech import registry

    measured = {(r["language"], r["engine"], r["voice"]): r for r in results}
    chosen: dict[str, str] = {}
    for language in {r["language"] for r in results}:
        rows = []
        for row in caps.TTS:
            found = measured.get((row.language, row.engine, row.voice))
            if row.language == language and found is not None:
                rows.append(
                    replace(row, wer_telephone=found["wer"], first_audio_ms=found["first_audio_ms"])
                )
        best = min(rows, key=registry.voice_rank)
        chosen[language] = f"{best.engine} {best.voice}"
    return chosen


def print_table(results: list[dict[str, Any]], chosen: dict[str, str]) -> None:
    from kallglot.speech.capabilities import FIRST_AUDIO_TARGET_MS, WER_BOUND

    print(
        f"Voices read back by Whisper base over a phone line (target first audio ≤ "
        f"{FIRST_AUDIO_TARGET_MS:.0f} ms)"
    )
    print(
        f"{'lang':<5}{'engine':<11}{'voice':<18}{'WER':>7}{'bound':>7}{'RTF':>7}"
        f"{'first ms':>10}{'worst ms':>10}{'peak MB':>9}  picked"
    )
    for r in results:
        pick = "<-" if chosen.get(r["language"]) == f"{r['engine']} {r['voice']}" else ""
        print(
            f"{r['language']:<5}{r['engine']:<11}{r['voice']:<18}{r['wer']:>7.3f}"
            f"{WER_BOUND.get(r['language'], 0.15):>7.2f}{r['rtf']:>7.2f}"
            f"{r['first_audio_ms']:>10.0f}{r['first_audio_max_ms']:>10.0f}{r['peak_mb']:>9.0f}"
            f"  {pick}"
        )


def record(results: list[dict[str, Any]], command: str) -> None:
    """Merge these figures into the registry's data file (other voices keep theirs)."""
    data = json.loads(RECORD.read_text(encoding="utf-8"))
    key = ("language", "engine", "voice")
    fresh = {tuple(r[k] for k in key) for r in results}
    kept = [v for v in data["voices"] if tuple(v[k] for k in key) not in fresh]
    fields = ("language", "engine", "voice", "wer", "first_audio_ms", "rtf", "peak_mb")
    data["voices"] = sorted(
        [*kept, *({k: r[k] for k in fields} for r in results)],
        key=lambda v: (v["language"], v["engine"], v["voice"]),
    )
    data["command"] = command
    data["measured"] = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    data["load_average_1m"] = round(os.getloadavg()[0], 2)
    RECORD.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--languages", default=",".join(LANGUAGES))
    parser.add_argument("--sentences", type=int, default=15)
    parser.add_argument("--json", type=Path, help="write the report here as JSON")
    parser.add_argument("--record", action="store_true", help="write the registry's figures")
    parser.add_argument("--speak", nargs=3, metavar=("LANG", "ENGINE", "VOICE"), help="internal")
    parser.add_argument("--out", type=Path, help="internal")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    if args.speak:
        speak(*args.speak, args.sentences, args.out)
        return 0
    from kallglot.speech import registry

    results: list[dict[str, Any]] = []
    unavailable: list[str] = []
    with tempfile.TemporaryDirectory(prefix="kallglot-voices-") as folder:
        for language in args.languages.split(","):
            for row in registry.voices(language):
                missing = registry.voice_missing(row)
                if missing is not None:
                    unavailable.append(f"{language} {row.engine} {row.voice}: {missing}")
                    continue
                results.append(measure(row, args.sentences, Path(folder)))
                print(json.dumps(results[-1], ensure_ascii=False), file=sys.stderr)
    chosen = picks(results)
    print_table(results, chosen)
    for line in unavailable:
        print(f"not installed: {line}")
    print(f"load average (1 min) at the end: {os.getloadavg()[0]:.2f}")
    report = {"voices": results, "picked": chosen, "unavailable": unavailable}
    if args.record:
        record(results, "bench/voices.py " + " ".join(sys.argv[1:]))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False))
    print(json.dumps(report, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
