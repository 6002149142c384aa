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


class ReadOnlyScope(Forbidden, word="read_only_scope"):
    """The scope is read-only: its keys are not configured or removed here."""


class KeyNotConfigured(NotFound, word="key_not_found"):
    """No key for that provider at that scope (or no stored key with that key_id)."""


class StaleKid(Conflict, word="stale_kid"):
    """The key was sealed to a sealing keypair key-vault no longer holds."""


class SealedKeyUnreadable(MalformedRequest, word="malformed_seal"):
    """The configure seal does not open, or is not a v1 envelope."""


class StoreConflict(Conflict, word="concurrent_change"):
    """A compare-and-set write lost against a concurrent change."""


class KeyRevokedError(Conflict, word="key_revoked"):
    """The provider revoked the key: it can only be replaced."""


class CipherUnavailable(Unavailable, word="cipher_unavailable"):
    """Vault (or the keyring) cannot be reached: nothing is stored, nothing is served."""


class CipherError(Exception):
    """A ciphertext does not decrypt (tampered, wrong context, unknown key version)."""
