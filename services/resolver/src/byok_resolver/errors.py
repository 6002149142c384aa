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


class NoKeyConfigured(NotFound):
    """No usable BYOK key anywhere in the chain (the message names the chain's first scope)."""

    default_error = "no_key"

    def __init__(self, first_scope_type: str) -> None:
        super().__init__(f"No API key configured for this {first_scope_type}")


class NoPlatformKey(NotFound):
    default_error = "no_platform_key"


class NoCredits(CreditsExhausted):
    default_error = "credits_exhausted"


class ByokNotAllowed(Forbidden):
    default_error = "byok_not_allowed"


class RouteMetered(Forbidden):
    default_error = "route_metered"


class ModelNotAllowed(Unprocessable):
    default_error = "model_not_allowed"


class NotInSync(Unavailable):
    """This replica cannot prove its caches are current; another replica (or a retry) can."""

    default_error = "not_in_sync"


class KeySourceUnavailable(Unavailable):
    default_error = "key_source_unavailable"
