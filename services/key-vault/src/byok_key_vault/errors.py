"""key-vault's error tree. Each is a contract error, so the edge turns it into a reply."""

from __future__ import annotations

from byok_contracts import Conflict, Forbidden, MalformedRequest, NotFound, Unavailable

__all__ = [
    "CipherError",
    "CipherUnavailable",
    "KeyNotConfigured",
    "KeyRevokedError",
    "ReadOnlyScope",
    "SealedKeyUnreadable",
    "StaleKid",
    "StoreConflict",
]


class ReadOnlyScope(Forbidden):
    default_error = "read_only_scope"


class KeyNotConfigured(NotFound):
    default_error = "key_not_found"


class StaleKid(Conflict):
    """The key was sealed to a sealing keypair key-vault no longer holds."""

    default_error = "stale_kid"


class SealedKeyUnreadable(MalformedRequest):
    default_error = "malformed_seal"


class StoreConflict(Conflict):
    """A compare-and-set write lost against a concurrent change."""

    default_error = "concurrent_change"


class KeyRevokedError(Conflict):
    default_error = "key_revoked"


class CipherUnavailable(Unavailable):
    """Vault (or the keyring) cannot be reached: nothing is stored, nothing is served."""

    default_error = "cipher_unavailable"


class CipherError(Exception):
    """A ciphertext does not decrypt (tampered, wrong context, unknown key version)."""
