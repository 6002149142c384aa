"""The real :class:`~byok_resolver.ports.KeySource`: key-vault's internal unseal hop.

key-vault seals the stored key to this replica's in-memory X25519 key with the
subject as HPKE info; the material is opened here and never leaves the process
except sealed to a runtime.
"""

from __future__ import annotations

from nats.aio.client import Client as NatsClient

from byok_contracts import Keypair
from byok_resolver.errors import KeySourceUnavailable
from byok_resolver.ports import Material
from byok_shared.recipients import unseal
from byok_shared.request import Requester

__all__ = ["NatsKeySource"]


class NatsKeySource:
    def __init__(self, nc: NatsClient, keypair: Keypair, *, timeout: float = 2.0) -> None:
        self.keypair = keypair
        self._key_vault = Requester(nc, timeout=timeout, unavailable=KeySourceUnavailable)

    async def unseal(self, key_id: str) -> Material:
        reply, secret = await unseal(self._key_vault, self.keypair, key_id)
        return Material(reply.key_id, reply.provider, reply.revision, secret)
