"""What key-vault needs from the outside world; adapters implement these, fakes too."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from pydantic import BaseModel

from byok_contracts.v1 import AccountPolicy, KeyRecord, ScopeSettings

__all__ = [
    "AuditLog",
    "Cipher",
    "EventBus",
    "KeyStore",
    "OwnerStore",
    "RecipientRegistry",
    "ReplicaBarrier",
    "SealLog",
    "SealingStore",
    "SettingsStore",
    "Validator",
    "Versioned",
]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Versioned(Generic[T]):
    """A stored value with the revision a compare-and-set write must name."""

    value: T
    revision: int


class Cipher(Protocol):
    """Encrypts key material at rest. ``context`` binds a ciphertext to where it lives.

    Raises :class:`~byok_key_vault.errors.CipherError` for a ciphertext that does
    not decrypt and :class:`~byok_key_vault.errors.CipherUnavailable` when the
    backend cannot be reached.
    """

    async def encrypt(self, plaintext: bytes, context: str) -> str: ...

    async def decrypt(self, ciphertext: str, context: str) -> bytes: ...

    async def rewrap(self, ciphertext: str, context: str) -> str:
        """The same plaintext under the newest key version, never leaving the backend."""
        ...

    async def rotate(self) -> None:
        """Make a new key version the one new ciphertexts use; old ones still decrypt."""
        ...

    async def close(self) -> None: ...


class KeyStore(Protocol):
    """Key records by slot (:func:`byok_contracts.v1.key_slot`) plus a key_id -> slot index.

    ``create``/``update``/``delete`` raise :class:`~byok_key_vault.errors.StoreConflict`
    when the slot changed since ``revision`` (or exists, for ``create``).
    """

    async def get(self, slot: str) -> Versioned[KeyRecord] | None: ...

    async def create(self, slot: str, record: KeyRecord) -> int: ...

    async def update(self, slot: str, record: KeyRecord, revision: int) -> int: ...

    async def delete(self, slot: str, revision: int) -> None:
        """Remove the record and every older revision of it."""
        ...

    async def slots(self) -> list[str]: ...

    def slot_pages(self) -> AsyncIterator[list[str]]:
        """Every slot, in sorted pages (no cap on how many)."""
        ...

    async def slot_of(self, key_id: str) -> str | None: ...

    async def index(self, key_id: str, slot: str) -> None: ...

    async def unindex(self, key_id: str) -> None: ...


class SettingsStore(Protocol):
    async def get_scope(self, scope_key: str) -> Versioned[ScopeSettings] | None: ...

    async def put_scope(self, settings: ScopeSettings, revision: int | None) -> int: ...

    async def get_account(self, account: str) -> Versioned[AccountPolicy] | None: ...

    async def put_account(self, policy: AccountPolicy, revision: int | None) -> int: ...


class OwnerStore(Protocol):
    """Which account owns a scope (``byok-owners``): set once, by the first write."""

    async def get(self, scope_key: str) -> str | None: ...

    async def claim(self, scope_key: str, account: str) -> str:
        """Create the owner if none exists (compare-and-set); return whoever owns it now."""
        ...


class SealLog(Protocol):
    """Configure seals already used (``byok-configure-seals``): each is good for one request."""

    async def first_use(self, digest: str) -> bool:
        """Record ``digest``; False when it was recorded before (a replay)."""
        ...


class RecipientRegistry(Protocol):
    """Public keys resolver and validator replicas registered (``byok-recipients``)."""

    async def role_of(self, public_key: str) -> str | None:
        """``resolver`` or ``validator`` for a registered key, else None."""
        ...


class AuditLog(Protocol):
    async def append(self, entry: BaseModel) -> None:
        """Append one entry to the audit stream (never material)."""
        ...


class SealingStore(Protocol):
    """Small named blobs (sealing keypairs, the fingerprint secret), compare-and-set."""

    async def get(self, name: str) -> Versioned[bytes] | None: ...

    async def create(self, name: str, value: bytes) -> int: ...

    async def update(self, name: str, value: bytes, revision: int) -> int: ...

    async def delete(self, name: str) -> None: ...

    async def names(self) -> list[str]: ...


class EventBus(Protocol):
    async def publish(self, subject: str, event: BaseModel, *, msg_id: str | None = None) -> None:
        """Publish durably (JetStream); ``msg_id`` lets the stream drop a redelivered copy."""
        ...


class Validator(Protocol):
    async def validate(self, provider: str, key: bytes) -> None:
        """Return if the provider accepts ``key``; raise KeyRejected (401) or Unavailable (503)."""
        ...


class ReplicaBarrier(Protocol):
    """Freshness (DESIGN.md section 5): a change is confirmed once every resolver has it
    (the adapter is :class:`byok_shared.freshness.FreshnessBarrier`)."""

    async def confirm(self, event_subject: str, event: BaseModel) -> object:
        """Return once every live resolver replica has applied ``event``."""
        ...
