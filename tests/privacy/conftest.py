from tests.crypto.scratch import blob_store, keyring, scratch

__all__ = ["blob_store", "keyring", "scratch"]
