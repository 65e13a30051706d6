"""Speech benchmark on the shared FLEURS clips, clean and telephone-band.

    .venv/bin/python bench/speech.py [--json bench/results/speech.json] [--clips N]

Prints, per language: WER and real-time factor (clean, and through 8 kHz G.711 mu-law),
ASR final latency after the end of a 3 s utterance (the decode that a stream waits for
once the VAD has closed the utterance), MT milliseconds per sentence for each route to
and from the language, TTS time to first audio, and the peak memory of the process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FLEURS = ROOT / "tests" / "data" / "speech" / "fleurs"
LANGUAGES = ("de", "en", "es", "fr", "pt")
TARGETS = {"clean": None, "telephone": None}
UTTERANCE_S = 3.0


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def bench_asr(clips: int) -> dict[str, Any]:
    from kallglot.speech import audio, registry
    from kallglot.speech.metrics import word_error_rate

    results: dict[str, Any] = {}
    for language in LANGUAGES:
        engine = registry.speech_to_text(language)
        paths = sorted(FLEURS.glob(f"fleurs-{language}-*.ogg"))[:clips]
        references = [p.with_suffix(".txt").read_text(encoding="utf-8") for p in paths]
        row: dict[str, Any] = {"engine": engine.name, "clips": len(paths)}
        for band in ("clean", "telephone"):
            hypotheses, spent, seconds, finals = [], 0.0, 0.0, []
            for path in paths:
                samples = audio.decode_file(path)
                if band == "telephone":
                    samples = audio.telephone_band(samples)
                started = time.perf_counter()
                hypotheses.append(engine.transcribe(samples, language).text)
                spent += time.perf_counter() - started
                seconds += audio.duration_s(samples)
                utterance = samples[int(0.5 * 16_000) : int((0.5 + UTTERANCE_S) * 16_000)]
                started = time.perf_counter()
                engine.transcribe(utterance, language)
                finals.append(time.perf_counter() - started)
            row[band] = {
                "wer": round(word_error_rate(references, hypotheses), 3),
                "rtf": round(spent / seconds, 3),
                "final_latency_ms_3s": _ms(statistics.median(finals)),
            }
        clean, phone = row["clean"]["wer"], row["telephone"]["wer"]
        row["telephone_over_clean"] = round(phone / clean, 2) if clean else None
        results[language] = row
    return results


def bench_mt() -> dict[str, Any]:
    from kallglot.speech import registry
    from kallglot.speech.capabilities import MT

    results: dict[str, Any] = {}
    for pair in sorted({(r.source, r.target) for r in MT if r.kind == "text"}):
        source, target = pair
        sentences = [
            p.read_text(encoding="utf-8") for p in sorted(FLEURS.glob(f"fleurs-{source}-*.txt"))
        ]
        registry.close_all(forget=True)  # fresh engines: no cache hit from a previous pair
        translator = registry.translator(source, target)
        translator.translate("Hello.", source, target)  # start the engine
        times = []
        for sentence in sentences:
            started = time.perf_counter()
            translator.translate(sentence, source, target)
            times.append(time.perf_counter() - started)
        results[f"{source}-{target}"] = {
            "engine": translator.name,
            "ms_per_sentence": _ms(statistics.mean(times)),
            "max_ms": _ms(max(times)),
        }
    return results


SENTENCES = {
    "en": "Thank you for calling, your flight has been moved to tomorrow morning.",
    "de": "Vielen Dank für Ihren Anruf, Ihr Flug wurde auf morgen früh verschoben.",
    "es": "Gracias por llamar, su vuelo se ha cambiado a mañana por la mañana.",
    "fr": "Merci de votre appel, votre vol a été déplacé à demain matin.",
    "pt": "Obrigado por ligar, o seu voo foi mudado para amanhã de manhã.",
}


async def _first_audio(language: str) -> tuple[str, float, float]:
    from kallglot.speech import registry, tts

    voice = registry.synthesizer(language)
    voice.synthesize("Hello.")  # load the voice
    started = time.perf_counter()
    first = None
    total = 0
    async for chunk in tts.stream(voice, SENTENCES[language]):
        first = first if first is not None else time.perf_counter() - started
        total += chunk.size
    return (
        voice.name,
        _ms(first or 0.0),
        round((time.perf_counter() - started) / (total / 16_000), 3),
    )


def bench_tts() -> dict[str, Any]:
    results: dict[str, Any] = {}
    for language in LANGUAGES:
        name, first_ms, rtf = asyncio.run(_first_audio(language))
        results[language] = {"engine": name, "first_audio_ms": first_ms, "rtf": rtf}
    return results


def print_table(report: dict[str, Any]) -> None:
    print("ASR (whisper-base, int8, 2 threads, beam 3, language given)")
    print(
        f"{'lang':<5}{'WER':>7}{'WER tel':>9}{'tel/clean':>10}{'RTF':>7}{'RTF tel':>9}"
        f"{'final ms (3 s)':>16}"
    )
    for language, row in report["asr"].items():
        c, t = row["clean"], row["telephone"]
        ratio = row["telephone_over_clean"] or 0
        print(
            f"{language:<5}{c['wer']:>7.3f}{t['wer']:>9.3f}{ratio:>10.2f}"
            f"{c['rtf']:>7.3f}{t['rtf']:>9.3f}{c['final_latency_ms_3s']:>16.0f}"
        )
    print("\nMT (FLEURS sentences)")
    print(f"{'pair':<7}{'engine':<36}{'ms/sentence':>12}{'max ms':>8}")
    for pair, row in report["mt"].items():
        print(f"{pair:<7}{row['engine']:<36}{row['ms_per_sentence']:>12.1f}{row['max_ms']:>8.1f}")
    print("\nTTS (time to first audio of a 12-word sentence)")
    print(f"{'lang':<5}{'engine':<11}{'first ms':>9}{'RTF':>7}")
    for language, row in report["tts"].items():
        print(f"{language:<5}{row['engine']:<11}{row['first_audio_ms']:>9.0f}{row['rtf']:>7.3f}")
    print(f"\npeak memory: {report['peak_memory_mb']:.0f} MB")
    print(f"load average (1 min) at the end: {report['load_average_1m']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="write the report here as JSON")
    parser.add_argument("--clips", type=int, default=5, help="clips per language (max 5)")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    started = time.perf_counter()
    report: dict[str, Any] = {"asr": bench_asr(args.clips), "mt": bench_mt(), "tts": bench_tts()}
    from kallglot.speech import registry

    registry.close_all()
    report["peak_memory_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    report["wall_s"] = round(time.perf_counter() - started, 1)
    # other work on the machine inflates every timing: keep the load beside them
    report["load_average_1m"] = round(os.getloadavg()[0], 2)
    print_table(report)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2))
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
