"""Transcript text is encrypted at rest with the organization's data key, bound to its row."""

from __future__ import annotations

from sqlalchemy.orm import Session

from kallglot.crypto import decrypt_text, encrypt_field
from kallglot.realtime.models import TranscriptTurn

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
