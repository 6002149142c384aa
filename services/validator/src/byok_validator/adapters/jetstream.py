"""Reads of stored key records (for periodic re-validation) and per-key sweep claims."""

from __future__ import annotations

import json
import time

from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from byok_contracts.v1 import KeyRecord
from byok_shared.jetstream import BUCKET_KEYS, SERVICE_BUCKETS, bucket_keys

from ..ports import StoredKey

__all__ = ["BUCKET_SWEEPS", "EXTRA_BUCKETS", "KvStoredKeys", "KvSweepClaims"]

# The validator's own bucket, provisioned with the rest (byok_shared.jetstream.SERVICE_BUCKETS).
EXTRA_BUCKETS = SERVICE_BUCKETS["validator"]
BUCKET_SWEEPS = EXTRA_BUCKETS[0].name  # <key_id> -> {"at": epoch seconds} of the last check


class KvStoredKeys:
    def __init__(self, js: JetStreamContext) -> None:
        self.js = js
        self._kv: KeyValue | None = None

    async def all(self) -> list[StoredKey]:
        if self._kv is None:
            self._kv = await self.js.key_value(BUCKET_KEYS)
        found = []
        for name in await bucket_keys(self.js, BUCKET_KEYS):
            try:
                entry = await self._kv.get(name)
            except KeyNotFoundError:
                continue
            if entry.value:
                record = KeyRecord.model_validate_json(entry.value)
                found.append(StoredKey(record.key_id, record.state.value, record.validated_at))
        return found


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
