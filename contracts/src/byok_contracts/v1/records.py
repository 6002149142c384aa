"""State records kept in JetStream KV and read by more than one service.

Only ciphertext ever lands here; ``fingerprint`` is an HMAC, ``hint`` a few
characters. Buckets and key layout are in ``byok_shared.jetstream``.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from .common import KeyState, Provider, Scope

__all__ = ["CreditState", "KeyRecord", "key_slot", "platform_key_slot"]


def key_slot(scope: Scope, provider: str) -> str:
    """Key of a scope's provider key in bucket ``byok-keys``: ``<scope.key>.<provider>``."""
    return f"{scope.key}.{provider}"


def platform_key_slot(provider: str) -> str:
    """Key of the platform's ``provider`` key in ``byok-keys`` (``platform.default.<provider>``).

    Read on purpose outside key-vault: the credit-ledger reads (and watches)
    ``platform.>`` in ``byok-keys`` to learn which ``key_id`` values are platform
    keys, so that usage on them is debited whatever the runtime claims as
    ``source``. A key id is derived from its slot (key-vault's
    ``key_id_for(slot, fingerprint)``), so a key id never changes scope type.
    """
    return key_slot(Scope.platform(), provider)


class KeyRecord(BaseModel):
    """One stored provider key (bucket ``byok-keys``, key ``<scope.key>.<provider>``)."""

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
