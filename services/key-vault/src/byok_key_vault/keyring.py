"""key-vault's own secrets: the HPKE sealing keypairs and the fingerprint secret.

Both live in the ``byok-sealing`` bucket, encrypted by the cipher, so every
replica (and a restarted one) uses the same keypair. ``current`` names the kid
new blobs are sealed to; older keypairs stay until ``keep`` newer ones exist.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from datetime import datetime

from byok_contracts import Keypair, SealingError
from byok_contracts.v1 import utcnow

from .errors import SealedKeyUnreadable, StaleKid, StoreConflict
from .ports import Cipher, SealingStore, Versioned
from .writes import compare_and_set

__all__ = ["SealingKeys"]

CONTEXT = "byok-sealing"
CURRENT = "current"
FINGERPRINT = "fingerprint"
_PREFIX = "keypair."
_KID = re.compile(r"[0-9a-f]{16}")


class SealingKeys:
    """Loads, creates and rotates the sealing keypair; opens blobs sealed to any kept kid."""

    def __init__(self, store: SealingStore, cipher: Cipher, *, keep: int = 3) -> None:
        self.store = store
        self.cipher = cipher
        self.keep = max(1, keep)
        self._pairs: dict[str, Keypair] = {}
        self._fingerprint: bytes | None = None

    async def load(self) -> None:
        """Create the first keypair and the fingerprint secret unless a replica already did."""
        if await self.store.get(FINGERPRINT) is None:
            blob = await self.cipher.encrypt(os.urandom(32), CONTEXT)
            # Another replica may win the race: then its secret is the one to use.
            with contextlib.suppress(StoreConflict):
                await self.store.create(FINGERPRINT, blob.encode())
        entry = await self.store.get(FINGERPRINT)
        assert entry is not None
        self._fingerprint = await self.cipher.decrypt(entry.value.decode(), CONTEXT)
        if await self.store.get(CURRENT) is None:
            pair = await self._store_pair(Keypair.generate())
            try:
                await self.store.create(CURRENT, pair.kid.encode())
            except StoreConflict:
                await self.store.delete(_PREFIX + pair.kid)
        await self.current()

    @property
    def fingerprint_secret(self) -> bytes:
        assert self._fingerprint is not None, "SealingKeys.load() was not awaited"
        return self._fingerprint

    async def current(self) -> Keypair:
        """The keypair clients should seal to now (read from the store: replicas agree)."""
        entry = await self.store.get(CURRENT)
        if entry is None:
            raise StaleKid("key-vault has no sealing keypair yet")
        return await self._pair(entry.value.decode())

    async def open(self, sealed: str, kid: str, subject: str) -> bytes:
        """Open a blob sealed to ``kid`` for ``subject``."""
        pair = await self._pair(kid)
        try:
            return pair.open(sealed, subject)
        except SealingError as exc:
            raise SealedKeyUnreadable(f"sealed_key does not open: {exc}") from None

    async def rotate(self) -> Keypair:
        """A new current keypair; drop those beyond the ``keep`` most recent."""
        pair = await self._store_pair(Keypair.generate())

        async def read() -> Versioned[bytes] | None:
            return await self.store.get(CURRENT)

        async def point(entry: Versioned[bytes] | None) -> int:
            if entry is None:
                return await self.store.create(CURRENT, pair.kid.encode())
            return await self.store.update(CURRENT, pair.kid.encode(), entry.revision)

        await compare_and_set("current sealing keypair", read, point)
        await self._prune()
        return pair

    async def rewrap(self) -> int:
        """Rewrap every stored private half and the fingerprint secret under the newest key."""
        count = 0
        for name in await self.store.names():
            if name == CURRENT:
                continue
            entry = await self.store.get(name)
            if entry is None:
                continue
            if name == FINGERPRINT:
                new = (await self.cipher.rewrap(entry.value.decode(), CONTEXT)).encode()
            else:
                data = json.loads(entry.value)
                data["private"] = await self.cipher.rewrap(data["private"], CONTEXT)
                new = json.dumps(data).encode()
            if new != entry.value:
                try:
                    await self.store.update(name, new, entry.revision)
                    count += 1
                except StoreConflict:
                    pass  # changed meanwhile: written under the newest key already
        return count

    async def _pair(self, kid: str) -> Keypair:
        pair = self._pairs.get(kid)
        if pair is not None:
            return pair
        # Never echo the kid: a caller may paste anything there (a key, even).
        stale = "Unknown sealing kid; fetch byok.v1.keys.public-key again"
        if _KID.fullmatch(kid) is None:
            raise StaleKid(stale)
        entry = await self.store.get(_PREFIX + kid)
        if entry is None:
            raise StaleKid(stale)
        data = json.loads(entry.value)
        raw = await self.cipher.decrypt(data["private"], CONTEXT)
        pair = Keypair.from_private_bytes(raw)
        self._pairs[kid] = pair
        return pair

    async def _store_pair(self, pair: Keypair) -> Keypair:
        private = await self.cipher.encrypt(pair.private_bytes(), CONTEXT)
        body = {
            "kid": pair.kid,
            "public_key": pair.public_b64,
            "private": private,
            "created_at": utcnow().isoformat(),
        }
        await self.store.create(_PREFIX + pair.kid, json.dumps(body).encode())
        self._pairs[pair.kid] = pair
        return pair

    async def _prune(self) -> None:
        dated: list[tuple[datetime, str]] = []
        for name in await self.store.names():
            if not name.startswith(_PREFIX):
                continue
            entry = await self.store.get(name)
            if entry is not None:
                created = datetime.fromisoformat(json.loads(entry.value)["created_at"])
                dated.append((created, name))
        dated.sort(reverse=True)
        for _, name in dated[self.keep :]:
            await self.store.delete(name)
            self._pairs.pop(name[len(_PREFIX) :], None)
