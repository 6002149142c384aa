"""In-memory fakes of every key-vault port, for unit tests of the use cases."""

from __future__ import annotations

from collections.abc import AsyncIterator

from pydantic import BaseModel

from byok_contracts import KeyRejected, Unavailable
from byok_contracts.v1 import AccountPolicy, KeyRecord, ScopeSettings

from ..errors import StoreConflict
from ..ports import Versioned

__all__ = [
    "MemoryAudit",
    "MemoryBarrier",
    "MemoryEvents",
    "MemoryKeyStore",
    "MemoryOwnerStore",
    "MemoryRecipients",
    "MemorySealingStore",
    "MemorySettingsStore",
    "MemoryValidator",
]


class _Cas:
    def __init__(self) -> None:
        self.data: dict[str, tuple[bytes, int]] = {}
        self.sequence = 0

    def get(self, key: str) -> Versioned[bytes] | None:
        found = self.data.get(key)
        return Versioned(found[0], found[1]) if found else None

    def put(self, key: str, value: bytes, revision: int | None) -> int:
        current = self.data.get(key)
        if (current is None) != (revision is None) or (
            current is not None and current[1] != revision
        ):
            raise StoreConflict(f"{key} changed meanwhile")
        self.sequence += 1
        self.data[key] = (value, self.sequence)
        return self.sequence

    def delete(self, key: str, revision: int | None = None) -> None:
        current = self.data.get(key)
        if revision is not None and (current is None or current[1] != revision):
            raise StoreConflict(f"{key} changed meanwhile")
        self.data.pop(key, None)


class MemoryOwnerStore:
    def __init__(self) -> None:
        self.owners: dict[str, str] = {}

    async def get(self, scope_key: str) -> str | None:
        return self.owners.get(scope_key)

    async def claim(self, scope_key: str, account: str) -> str:
        return self.owners.setdefault(scope_key, account)


class MemorySealLog:
    def __init__(self) -> None:
        self.seen: set[str] = set()

    async def first_use(self, digest: str) -> bool:
        if digest in self.seen:
            return False
        self.seen.add(digest)
        return True


class MemoryAudit:
    def __init__(self) -> None:
        self.entries: list[BaseModel] = []

    async def append(self, entry: BaseModel) -> None:
        self.entries.append(entry)


class MemoryRecipients:
    def __init__(self) -> None:
        self.roles: dict[str, str] = {}

    async def role_of(self, public_key: str) -> str | None:
        return self.roles.get(public_key)


class MemoryKeyStore:
    def __init__(self) -> None:
        self.records = _Cas()
        self.ids: dict[str, str] = {}
        self.page_size = 100_000

    async def get(self, slot: str) -> Versioned[KeyRecord] | None:
        entry = self.records.get(slot)
        if entry is None:
            return None
        return Versioned(KeyRecord.model_validate_json(entry.value), entry.revision)

    async def create(self, slot: str, record: KeyRecord) -> int:
        return self.records.put(slot, record.model_dump_json().encode(), None)

    async def update(self, slot: str, record: KeyRecord, revision: int) -> int:
        return self.records.put(slot, record.model_dump_json().encode(), revision)

    async def delete(self, slot: str, revision: int) -> None:
        self.records.delete(slot, revision)

    async def slots(self) -> list[str]:
        return list(self.records.data)

    async def slot_pages(self) -> AsyncIterator[list[str]]:
        ordered = sorted(self.records.data)
        for start in range(0, len(ordered), self.page_size):
            yield ordered[start : start + self.page_size]

    async def slot_of(self, key_id: str) -> str | None:
        return self.ids.get(key_id)

    async def index(self, key_id: str, slot: str) -> None:
        self.ids[key_id] = slot

    async def unindex(self, key_id: str) -> None:
        self.ids.pop(key_id, None)


class MemorySettingsStore:
    def __init__(self) -> None:
        self.scopes = _Cas()
        self.accounts = _Cas()

    async def get_scope(self, scope_key: str) -> Versioned[ScopeSettings] | None:
        entry = self.scopes.get(scope_key)
        if entry is None:
            return None
        return Versioned(ScopeSettings.model_validate_json(entry.value), entry.revision)

    async def put_scope(self, settings: ScopeSettings, revision: int | None) -> int:
        return self.scopes.put(settings.scope.key, settings.model_dump_json().encode(), revision)

    async def get_account(self, account: str) -> Versioned[AccountPolicy] | None:
        entry = self.accounts.get(account)
        if entry is None:
            return None
        return Versioned(AccountPolicy.model_validate_json(entry.value), entry.revision)

    async def put_account(self, policy: AccountPolicy, revision: int | None) -> int:
        return self.accounts.put(policy.account, policy.model_dump_json().encode(), revision)


class MemorySealingStore:
    def __init__(self) -> None:
        self.blobs = _Cas()

    async def get(self, name: str) -> Versioned[bytes] | None:
        return self.blobs.get(name)

    async def create(self, name: str, value: bytes) -> int:
        return self.blobs.put(name, value, None)

    async def update(self, name: str, value: bytes, revision: int) -> int:
        return self.blobs.put(name, value, revision)

    async def delete(self, name: str) -> None:
        self.blobs.delete(name)

    async def names(self) -> list[str]:
        return list(self.blobs.data)


class MemoryEvents:
    def __init__(self) -> None:
        self.published: list[tuple[str, BaseModel]] = []

    async def publish(self, subject: str, event: BaseModel, *, msg_id: str | None = None) -> None:
        self.published.append((subject, event))

    def subjects(self) -> list[str]:
        return [subject for subject, _ in self.published]


class MemoryBarrier:
    def __init__(self, events: MemoryEvents | None = None) -> None:
        self.confirmed: list[tuple[str, BaseModel]] = []
        self.events = events

    async def confirm(self, event_subject: str, event: BaseModel) -> object:
        # The real barrier runs after the event is durable; check the order here too.
        if self.events is not None:
            assert (event_subject, event) in self.events.published, "confirm before publish"
        self.confirmed.append((event_subject, event))
        return None


class MemoryValidator:
    """Answers from a table of key -> "valid" | "rejected" | "unavailable"."""

    def __init__(self) -> None:
        self.answers: dict[bytes, str] = {}
        self.calls: list[tuple[str, bytes]] = []

    async def validate(self, provider: str, key: bytes) -> None:
        self.calls.append((provider, key))
        answer = self.answers.get(key, "valid")
        if answer == "rejected":
            raise KeyRejected(f"Invalid {provider} key: invalid x-api-key", error="invalid_key")
        if answer == "unavailable":
            raise Unavailable(f"{provider} is unavailable", error="provider_unavailable")
