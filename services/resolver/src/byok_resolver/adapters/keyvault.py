"""The real :class:`~byok_resolver.ports.KeySource`: key-vault's internal unseal hop.

key-vault seals the stored key to this replica's in-memory X25519 key with the
subject as HPKE info; the material is opened here and never leaves the process
except sealed to a runtime.
"""

from __future__ import annotations

from nats.aio.client import Client as NatsClient

from byok_contracts import Keypair, SealingError
from byok_contracts.v1 import UnsealKey
from byok_resolver.errors import KeySourceUnavailable
from byok_resolver.ports import Material
from byok_shared import calls
from byok_shared.request import Requester

__all__ = ["NatsKeySource"]


class NatsKeySource:
    def __init__(self, nc: NatsClient, keypair: Keypair, *, timeout: float = 2.0) -> None:
        self.keypair = keypair
        self._key_vault = Requester(nc, timeout=timeout, unavailable=KeySourceUnavailable)

    async def unseal(self, key_id: str) -> Material:
        body = UnsealKey(key_id=key_id, recipient_key=self.keypair.public_b64)
        reply = await self._key_vault.request(calls.KEYS_UNSEAL, body)
        try:
            secret = self.keypair.open(reply.sealed_key, calls.KEYS_UNSEAL.subject)
        except SealingError:
            raise KeySourceUnavailable("key-vault sent an unusable unseal reply") from None
        return Material(reply.key_id, reply.provider, reply.revision, secret)
