"""Transcript text is encrypted at rest with the organization's data key, bound to its row;
read back, it is served as JSON, plain text, SubRip or WebVTT."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy.orm import Session

from kallglot.crypto import decrypt_text, encrypt_field
from kallglot.realtime.models import TranscriptTurn
from kallglot.realtime.schemas import TurnOut

TABLE = TranscriptTurn.__tablename__


def seal_turn_text(
    db: Session, organization_id: str, row_id: str, text: str, translation: str | None
) -> tuple[bytes, bytes | None]:
    sealed_text = encrypt_field(db, organization_id, TABLE, row_id, "text", text)
    sealed_translation = (
        encrypt_field(db, organization_id, TABLE, row_id, "translation", translation)
        if translation is not None
        else None
    )
    return sealed_text, sealed_translation


def open_turn_text(db: Session, turn: TranscriptTurn) -> tuple[str, str | None]:
    text = decrypt_text(db, TABLE, turn.id, "text", turn.text_encrypted)
    translation = (
        decrypt_text(db, TABLE, turn.id, "translation", turn.translation_encrypted)
        if turn.translation_encrypted is not None
        else None
    )
    return text, translation


class TranscriptFormat(StrEnum):
    """``format`` of ``GET /v1/sessions/{id}/transcript`` (as in the public API)."""

    JSON = "json"
    TEXT = "text"
    SRT = "srt"
    VTT = "vtt"


MEDIA_TYPES = {
    TranscriptFormat.TEXT: "text/plain; charset=utf-8",
    TranscriptFormat.SRT: "application/x-subrip; charset=utf-8",
    TranscriptFormat.VTT: "text/vtt; charset=utf-8",
}


def _clock(ms: int, separator: str) -> str:
    hours, rest = divmod(max(ms, 0), 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}{separator}{millis:03d}"


def _one_line(text: str) -> str:
    # A cue or a line of the text form must not be split or ended by what was said.
    return " ".join(text.split())


def render(turns: list[TurnOut], kind: TranscriptFormat) -> str:
    """The turns as plain text, SubRip or WebVTT; translations appear where the turns carry them."""
    if kind is TranscriptFormat.TEXT:
        lines = []
        for turn in turns:
            stamp = _clock(turn.start_ms, ".")
            lines.append(f"[{stamp}] {turn.speaker}: {_one_line(turn.text)}")
            if turn.translation is not None:
                translated = _one_line(turn.translation.text)
                lines.append(
                    f"[{stamp}] {turn.speaker} ({turn.translation.language}): {translated}"
                )
        return "\n".join(lines) + ("\n" if lines else "")
    separator = "," if kind is TranscriptFormat.SRT else "."
    cues = []
    for number, turn in enumerate(turns, start=1):
        timing = f"{_clock(turn.start_ms, separator)} --> {_clock(turn.end_ms, separator)}"
        said = [_one_line(turn.text)]
        if turn.translation is not None:
            said.append(_one_line(turn.translation.text))
        if kind is TranscriptFormat.SRT:
            body = "\n".join(f"{turn.speaker}: {line}" for line in said)
            cues.append(f"{number}\n{timing}\n{body}\n")
        else:
            body = "\n".join(f"<v {turn.speaker}>{_vtt_escape(line)}" for line in said)
            cues.append(f"{number}\n{timing}\n{body}\n")
    if kind is TranscriptFormat.SRT:
        return "\n".join(cues)
    return "WEBVTT\n\n" + "\n".join(cues)


def _vtt_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
