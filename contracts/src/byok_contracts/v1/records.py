"""State records kept in JetStream KV and read by more than one service.

Only ciphertext ever lands here; ``fingerprint`` is an HMAC, ``hint`` a few
characters. Bucket names, key layouts, writers and readers: :mod:`.buckets`.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from .common import KeyState, Provider, Scope

__all__ = ["CreditState", "KeyRecord"]


class KeyRecord(BaseModel):
    """One stored provider key (bucket ``byok-keys``, at its :func:`~.buckets.key_slot`)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    key_id: str
    scope: Scope
    provider: Provider
    hint: str
    fingerprint: str
    model: str
    state: KeyState
    ciphertext: str
    created_at: datetime
    updated_at: datetime
    validated_at: datetime | None = None
    actor: str | None = None
    # The account owning ``scope`` (None for platform keys): resolvers serve it to no other.
    account: str | None = None


class CreditState(BaseModel):
    """Latest known balance of one account (bucket ``byok-credits``, key ``<account>``)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    account: str
    balance: int
    updated_at: datetime
    journal_seq: int = 0  # stream sequence of the journal entry this balance follows
