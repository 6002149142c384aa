"""Reads of stored key records (for periodic re-validation) and per-key sweep claims."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from byok_contracts.v1 import KeyRecord
from byok_shared.jetstream import BUCKET_KEYS, SERVICE_BUCKETS, bucket_key_pages

from ..ports import StoredKey

__all__ = ["BUCKET_SWEEPS", "EXTRA_BUCKETS", "KvStoredKeys", "KvSweepClaims"]

# The validator's own bucket, provisioned with the rest (byok_shared.jetstream.SERVICE_BUCKETS).
EXTRA_BUCKETS = SERVICE_BUCKETS["validator"]
BUCKET_SWEEPS = EXTRA_BUCKETS[0].name  # <key_id> -> {"at": epoch seconds} of the last check


class KvStoredKeys:
    """Stored key records page by page; the records of a page are read in parallel.

    key-vault's ``byok-keys``, shared on purpose and read only (the sweep would
    otherwise need a listing operation of its own): :mod:`byok_contracts.v1.buckets`."""

    def __init__(self, js: JetStreamContext, *, in_flight: int = 64) -> None:
        self.js = js
        self.in_flight = in_flight
        self._kv: KeyValue | None = None

    async def pages(self) -> AsyncIterator[list[StoredKey]]:
        if self._kv is None:
            self._kv = await self.js.key_value(BUCKET_KEYS)
        gate = asyncio.Semaphore(self.in_flight)

        async def read(name: str) -> StoredKey | None:
            assert self._kv is not None
            async with gate:
                try:
                    entry = await self._kv.get(name)
                except KeyNotFoundError:  # deleted or purged: listed by its marker
                    return None
            if not entry.value:
                return None
            record = KeyRecord.model_validate_json(entry.value)
            return StoredKey(record.key_id, record.state.value, record.validated_at)

        async for names in bucket_key_pages(self.js, BUCKET_KEYS):
            found = await asyncio.gather(*(read(name) for name in names))
            yield [stored for stored in found if stored is not None]


class KvSweepClaims:
    """Compare-and-set claims, so replicas do not re-validate the same key twice."""

    def __init__(self, js: JetStreamContext) -> None:
        self.js = js
        self._kv: KeyValue | None = None

    async def claim(self, key_id: str, interval: float) -> bool:
        if self._kv is None:
            self._kv = await self.js.key_value(BUCKET_SWEEPS)
        now = time.time()
        value = json.dumps({"at": now}).encode()
        try:
            entry = await self._kv.get(key_id)
        except KeyNotFoundError:
            entry = None
        try:
            if entry is None or not entry.value:
                await self._kv.create(key_id, value)
                return True
            if now - float(json.loads(entry.value)["at"]) < interval:
                return False
            await self._kv.update(key_id, value, last=entry.revision)
        except KeyWrongLastSequenceError:
            return False
        return True
