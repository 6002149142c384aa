"""The resolver's error tree: each one becomes the error reply contract at the edge."""

from __future__ import annotations

from byok_contracts import CreditsExhausted, Forbidden, NotFound, Unavailable, Unprocessable

__all__ = [
    "ByokNotAllowed",
    "KeySourceUnavailable",
    "ModelNotAllowed",
    "NoCredits",
    "NoKeyConfigured",
    "NoPlatformKey",
    "NotInSync",
    "RouteMetered",
]


class NoKeyConfigured(NotFound, word="no_key"):
    """No usable BYOK key anywhere in the chain (the message names the chain's first scope)."""

    def __init__(self, first_scope_type: str) -> None:
        super().__init__(f"No API key configured for this {first_scope_type}")


class NoPlatformKey(NotFound, word="no_platform_key"):
    """The platform has no usable key for the provider (fallback or ``source: credits``)."""


class NoCredits(CreditsExhausted, word="credits_exhausted"):
    """Platform usage while the account's balance is zero or below."""


class ByokNotAllowed(Forbidden, word="byok_not_allowed"):
    """``source: byok`` on a plan without BYOK."""


class RouteMetered(Forbidden, word="route_metered"):
    """``source: byok`` where the scope's route pins metered (platform) usage."""


class ModelNotAllowed(Unprocessable, word="model_not_allowed"):
    """The model is not in the catalog and the account allows no custom models."""


class NotInSync(Unavailable, word="not_in_sync"):
    """This replica cannot prove its caches are current; another replica (or a retry) can."""


class KeySourceUnavailable(Unavailable, word="key_source_unavailable"):
    """key-vault did not hand over the key material."""
