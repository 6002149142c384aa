"""validator's error tree (contract errors, so the edge replies with them)."""

from __future__ import annotations

from byok_contracts import KeyRejected, MalformedRequest, Unavailable

__all__ = ["ProviderRejected", "ProviderUnavailable", "SealedKeyUnreadable"]


class ProviderRejected(KeyRejected, word="invalid_key"):
    """401 ``Invalid <provider> key: <the provider's own message>``."""


class ProviderUnavailable(Unavailable, word="provider_unavailable"):
    """429, 5xx or timeouts outlasted the retries: nothing was decided about the key."""


class SealedKeyUnreadable(MalformedRequest, word="sealed_key_unreadable"):
    """The key from key-vault does not open with this replica's keypair."""
