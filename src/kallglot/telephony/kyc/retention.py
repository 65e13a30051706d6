"""Purging KYC bundles (and their document blobs) after the regulatory end date."""

from __future__ import annotations

from sqlalchemy import delete, select

from kallglot.core.settings import get_settings
from kallglot.crypto import EncryptedBlobStore
from kallglot.privacy.retention import PurgeBatch, purger
from kallglot.telephony.kyc.models import KycBundle, KycDocument
from kallglot.telephony.numbers.models import PhoneNumber


def blob_store() -> EncryptedBlobStore:
    """The blob store of the running process (the purge job gets no settings of its own)."""
    return EncryptedBlobStore.from_settings(get_settings())


@purger("kyc")
def purge_kyc_bundles(batch: PurgeBatch) -> int:
    in_use = select(PhoneNumber.bundle_id).where(
        PhoneNumber.status == "active", PhoneNumber.bundle_id.is_not(None)
    )
    ids = batch.expired_ids(
        KycBundle,
        KycBundle.retain_until,
        KycBundle.id.not_in(in_use),
        held=(KycBundle.id, "kyc_bundle"),
    )
    if not ids:
        return 0
    store = blob_store()
    for blob_id in batch.session.scalars(
        select(KycDocument.blob_id).where(KycDocument.bundle_id.in_(ids))
    ):
        store.delete(blob_id)
    batch.session.execute(delete(KycDocument).where(KycDocument.bundle_id.in_(ids)))
    batch.session.execute(delete(KycBundle).where(KycBundle.id.in_(ids)))
    return len(ids)
