"""The validator -> key-vault hops: unseal (the key comes back sealed to us) and revoke."""

from __future__ import annotations

from nats.aio.client import Client as NatsClient

from byok_contracts import Keypair
from byok_contracts.v1 import RevokeKey
from byok_shared import calls
from byok_shared.recipients import unseal
from byok_shared.request import Requester

from ..errors import ProviderUnavailable
from ..ports import UnsealedKey

__all__ = ["KeyVaultUnavailable", "NatsKeyVault"]


class KeyVaultUnavailable(ProviderUnavailable, word="key_vault_unavailable"):
    """key-vault did not answer: the report cannot be checked now (retryable)."""


class NatsKeyVault:
    def __init__(self, nc: NatsClient, keypair: Keypair, *, timeout: float = 5.0) -> None:
        self.keypair = keypair
        self._key_vault = Requester(nc, timeout=timeout, unavailable=KeyVaultUnavailable)

    async def unseal(self, key_id: str) -> UnsealedKey:
        reply, key = await unseal(self._key_vault, self.keypair, key_id)
        state = reply.state.value if reply.state is not None else None
        return UnsealedKey(reply.key_id, reply.provider, key.decode(), state)

    async def revoke(self, key_id: str, reason: str) -> None:
        body = RevokeKey(key_id=key_id, reason=reason[:1024])
        await self._key_vault.request(calls.KEYS_REVOKE, body)
