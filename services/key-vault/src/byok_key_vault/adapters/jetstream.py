"""The real stores: JetStream KV buckets, and events on the BYOK_EVENTS stream."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterable

from nats.js import JetStreamContext
from nats.js.api import PubAck
from nats.js.errors import APIError, KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue
from pydantic import BaseModel

from byok_contracts.v1 import AccountPolicy, KeyRecord, ScopeSettings
from byok_shared.jetstream import (
    BUCKET_ACCOUNTS,
    BUCKET_KEYS,
    BUCKET_OWNERS,
    BUCKET_SCOPES,
    BUCKET_SEALING,
    SERVICE_BUCKETS,
    bucket_key_pages,
    bucket_keys,
)
from byok_shared.recipients import lookup_recipient

from ..errors import StoreConflict
from ..ports import Versioned

__all__ = [
    "BUCKET_KEY_INDEX",
    "EXTRA_BUCKETS",
    "JetStreamEvents",
    "KvKeyStore",
    "KvOwnerStore",
    "KvRecipients",
    "KvSealLog",
    "KvSealingStore",
    "KvSettingsStore",
]

# JSStreamWrongLastSequenceErrF / ...ConstantErr: nats-py maps them for update(), not delete().
_WRONG_LAST_SEQUENCE = (10071, 10164)

# key-vault's own buckets, provisioned with the rest (byok_shared.jetstream.SERVICE_BUCKETS).
EXTRA_BUCKETS = SERVICE_BUCKETS["key-vault"]
BUCKET_KEY_INDEX = EXTRA_BUCKETS[0].name  # <key_id> -> <slot> (key-vault's own lookup)
BUCKET_CONFIGURE_SEALS = EXTRA_BUCKETS[1].name  # <digest> -> used (entries expire)


class _Kv:
    """Compare-and-set helpers over one bucket, opened lazily."""

    def __init__(self, js: JetStreamContext, bucket: str) -> None:
        self.js = js
        self.bucket = bucket
        self._kv: KeyValue | None = None

    async def kv(self) -> KeyValue:
        if self._kv is None:
            self._kv = await self.js.key_value(self.bucket)
        return self._kv

    async def get(self, key: str) -> Versioned[bytes] | None:
        try:
            entry = await (await self.kv()).get(key)
        except KeyNotFoundError:  # also deleted and purged keys
            return None
        if entry.value is None:
            return None
        return Versioned(entry.value, entry.revision or 0)

    async def put(self, key: str, value: bytes, revision: int | None) -> int:
        kv = await self.kv()
        try:
            if revision is None:
                return await kv.create(key, value)
            return await kv.update(key, value, last=revision)
        except KeyWrongLastSequenceError:
            raise StoreConflict(f"{self.bucket}/{key} changed meanwhile") from None

    async def delete(self, key: str, revision: int | None = None) -> None:
        kv = await self.kv()
        if revision is not None:
            try:
                await kv.delete(key, last=revision)
            except APIError as exc:
                if exc.err_code not in _WRONG_LAST_SEQUENCE:
                    raise
                raise StoreConflict(f"{self.bucket}/{key} changed meanwhile") from None
        # Purge drops every older revision too: no old ciphertext lingers in history.
        await kv.purge(key)

    async def keys(self) -> list[str]:
        """Keys with a message (deleted ones included: ``get`` returns None for them)."""
        return await bucket_keys(self.js, self.bucket)


class KvKeyStore:
    def __init__(self, js: JetStreamContext) -> None:
        self._records = _Kv(js, BUCKET_KEYS)
        self._index = _Kv(js, BUCKET_KEY_INDEX)

    async def get(self, slot: str) -> Versioned[KeyRecord] | None:
        entry = await self._records.get(slot)
        if entry is None:
            return None
        return Versioned(KeyRecord.model_validate_json(entry.value), entry.revision)

    async def create(self, slot: str, record: KeyRecord) -> int:
        return await self._records.put(slot, record.model_dump_json().encode(), None)

    async def create_many(self, records: Iterable[tuple[str, KeyRecord]], window: int) -> int:
        """Create many slots and their index entries, ``window`` writes in flight (bulk
        loads: the same messages as :meth:`create` and :meth:`index`, acks awaited in
        batches instead of one by one)."""
        js = self._records.js
        create = {"Nats-Expected-Last-Subject-Sequence": "0"}  # what KeyValue.create sends
        pending: list[asyncio.Future[PubAck]] = []
        written = 0
        for slot, record in records:
            body = record.model_dump_json().encode()
            pending.append(
                await js.publish_async(f"$KV.{BUCKET_KEYS}.{slot}", body, headers=create)
            )
            pending.append(
                await js.publish_async(f"$KV.{BUCKET_KEY_INDEX}.{record.key_id}", slot.encode())
            )
            written += 1
            if len(pending) >= 2 * window:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
        return written

    async def update(self, slot: str, record: KeyRecord, revision: int) -> int:
        return await self._records.put(slot, record.model_dump_json().encode(), revision)

    async def delete(self, slot: str, revision: int) -> None:
        await self._records.delete(slot, revision)

    async def slots(self) -> list[str]:
        return await self._records.keys()

    async def slot_pages(self) -> AsyncIterator[list[str]]:
        async for page in bucket_key_pages(self._records.js, BUCKET_KEYS):
            yield page

    async def slot_of(self, key_id: str) -> str | None:
        entry = await self._index.get(key_id)
        return entry.value.decode() if entry is not None else None

    async def index(self, key_id: str, slot: str) -> None:
        await (await self._index.kv()).put(key_id, slot.encode())

    async def unindex(self, key_id: str) -> None:
        await self._index.delete(key_id)


class KvSettingsStore:
    def __init__(self, js: JetStreamContext) -> None:
        self._scopes = _Kv(js, BUCKET_SCOPES)
        self._accounts = _Kv(js, BUCKET_ACCOUNTS)

    async def get_scope(self, scope_key: str) -> Versioned[ScopeSettings] | None:
        entry = await self._scopes.get(scope_key)
        if entry is None:
            return None
        return Versioned(ScopeSettings.model_validate_json(entry.value), entry.revision)

    async def put_scope(self, settings: ScopeSettings, revision: int | None) -> int:
        return await self._scopes.put(
            settings.scope.key, settings.model_dump_json().encode(), revision
        )

    async def get_account(self, account: str) -> Versioned[AccountPolicy] | None:
        entry = await self._accounts.get(account)
        if entry is None:
            return None
        return Versioned(AccountPolicy.model_validate_json(entry.value), entry.revision)

    async def put_account(self, policy: AccountPolicy, revision: int | None) -> int:
        return await self._accounts.put(policy.account, policy.model_dump_json().encode(), revision)


class KvSealLog:
    """``byok-configure-seals``: one create per seal, refused when the seal was seen (on
    any replica); the bucket forgets a seal once it could no longer be valid anyway."""

    def __init__(self, js: JetStreamContext) -> None:
        self._kv = _Kv(js, BUCKET_CONFIGURE_SEALS)

    async def first_use(self, digest: str) -> bool:
        try:
            await self._kv.put(digest, b"1", None)
        except StoreConflict:
            return False
        return True


class KvOwnerStore:
    """``byok-owners``: ``create`` fails when the key exists, so two racing claims
    cannot both win; the loser reads the winner.

    An owner never changes once written, so known owners are kept in memory
    (bounded): a write to a scope seen before costs no round trip for its owner,
    and a first write costs one (the create, tried before any read).
    """

    def __init__(self, js: JetStreamContext, *, remember: int = 100_000) -> None:
        self._kv = _Kv(js, BUCKET_OWNERS)
        self._known: OrderedDict[str, str] = OrderedDict()
        self._remember = remember

    def _keep(self, scope_key: str, account: str) -> str:
        self._known[scope_key] = account
        self._known.move_to_end(scope_key)
        if len(self._known) > self._remember:
            self._known.popitem(last=False)
        return account

    async def get(self, scope_key: str) -> str | None:
        known = self._known.get(scope_key)
        if known is not None:
            return known
        entry = await self._kv.get(scope_key)
        return self._keep(scope_key, entry.value.decode()) if entry is not None else None

    async def claim(self, scope_key: str, account: str) -> str:
        known = self._known.get(scope_key)
        if known is not None:
            return known
        for _ in range(3):
            try:
                await self._kv.put(scope_key, account.encode(), None)
            except StoreConflict:
                owner = await self.get(scope_key)
                if owner is not None:
                    return owner
                continue
            return self._keep(scope_key, account)
        raise StoreConflict("The owner of this scope kept changing; try again")


class KvRecipients:
    """Registered recipients, positive answers cached (a kid's key never changes)."""

    def __init__(self, js: JetStreamContext, *, cache_max: int = 1024) -> None:
        self.js = js
        self.cache_max = cache_max
        self._known: dict[str, str] = {}

    async def role_of(self, public_key: str) -> str | None:
        role = self._known.get(public_key)
        if role is None:
            role = await lookup_recipient(self.js, public_key)
            if role is not None:
                if len(self._known) >= self.cache_max:
                    self._known.clear()
                self._known[public_key] = role
        return role


class KvSealingStore:
    def __init__(self, js: JetStreamContext) -> None:
        self._kv = _Kv(js, BUCKET_SEALING)

    async def get(self, name: str) -> Versioned[bytes] | None:
        return await self._kv.get(name)

    async def create(self, name: str, value: bytes) -> int:
        return await self._kv.put(name, value, None)

    async def update(self, name: str, value: bytes, revision: int) -> int:
        return await self._kv.put(name, value, revision)

    async def delete(self, name: str) -> None:
        await self._kv.delete(name)

    async def names(self) -> list[str]:
        return await self._kv.keys()


class JetStreamEvents:
    def __init__(self, js: JetStreamContext) -> None:
        self.js = js

    async def publish(self, subject: str, event: BaseModel, *, msg_id: str | None = None) -> None:
        headers = {"Nats-Msg-Id": msg_id} if msg_id else None
        await self.js.publish(subject, event.model_dump_json().encode(), headers=headers)
