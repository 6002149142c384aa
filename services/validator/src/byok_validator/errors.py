"""validator's error tree (contract errors, so the edge replies with them)."""

from __future__ import annotations

from byok_contracts import KeyRejected, MalformedRequest, Unavailable

__all__ = ["ProviderRejected", "ProviderUnavailable", "SealedKeyUnreadable"]


class ProviderRejected(KeyRejected):
    """401 ``Invalid <provider> key: <the provider's own message>``."""

    default_error = "invalid_key"


class ProviderUnavailable(Unavailable):
    """429, 5xx or timeouts outlasted the retries: nothing was decided about the key."""

    default_error = "provider_unavailable"


class SealedKeyUnreadable(MalformedRequest):
    default_error = "sealed_key_unreadable"
