"""byok contracts: the public NATS API of byok (messages, subjects, errors, sealing)."""

from __future__ import annotations

from . import subjects
from .catalog import Catalog, ModelPrice
from .errors import (
    ByokError,
    Conflict,
    CreditsExhausted,
    Forbidden,
    InternalError,
    KeyRejected,
    MalformedRequest,
    NotFound,
    Unavailable,
    Unprocessable,
    WrongAccount,
    error_for_code,
)
from .providers import PROVIDERS, check_provider, detect_provider
from .sealing import (
    SUITE,
    Keypair,
    SealBindingError,
    SealingError,
    load_public_key,
    open_configure,
    open_sealed,
    seal,
    seal_configure,
)

__all__ = [
    "PROVIDERS",
    "SUITE",
    "ByokError",
    "Catalog",
    "Conflict",
    "CreditsExhausted",
    "Forbidden",
    "InternalError",
    "KeyRejected",
    "Keypair",
    "MalformedRequest",
    "ModelPrice",
    "NotFound",
    "SealBindingError",
    "SealingError",
    "Unavailable",
    "Unprocessable",
    "WrongAccount",
    "check_provider",
    "detect_provider",
    "error_for_code",
    "load_public_key",
    "open_configure",
    "open_sealed",
    "seal",
    "seal_configure",
    "subjects",
]
