"""The validator -> key-vault hops: unseal (the key comes back sealed to us) and revoke."""

from __future__ import annotations

import json
from typing import TypeVar

from nats.aio.client import Client as NatsClient
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from pydantic import BaseModel

from byok_contracts import Keypair, error_for_code, subjects
from byok_contracts.v1 import KeyRevoked, KeyUnsealed, RevokeKey, UnsealKey

from ..errors import ProviderUnavailable
from ..ports import UnsealedKey

__all__ = ["NatsKeyVault"]

R = TypeVar("R", bound=BaseModel)


class NatsKeyVault:
    def __init__(self, nc: NatsClient, keypair: Keypair, *, timeout: float = 5.0) -> None:
        self.nc = nc
        self.keypair = keypair
        self.timeout = timeout

    async def unseal(self, key_id: str) -> UnsealedKey:
        body = UnsealKey.model_validate(
            {"key_id": key_id, "recipient_key": self.keypair.public_b64}
        )
        reply = await self._request(subjects.INTERNAL_KEYS_UNSEAL, body, KeyUnsealed)
        key = self.keypair.open(reply.sealed_key, subjects.INTERNAL_KEYS_UNSEAL).decode()
        state = reply.state.value if reply.state is not None else None
        return UnsealedKey(key_id=reply.key_id, provider=reply.provider, key=key, state=state)

    async def revoke(self, key_id: str, reason: str) -> None:
        body = RevokeKey.model_validate({"key_id": key_id, "reason": reason[:1024]})
        await self._request(subjects.INTERNAL_KEYS_REVOKE, body, KeyRevoked)

    async def _request(self, subject: str, body: BaseModel, reply: type[R]) -> R:
        try:
            msg = await self.nc.request(
                subject, body.model_dump_json().encode(), timeout=self.timeout
            )
        except (NoRespondersError, NatsTimeout):
            raise ProviderUnavailable(
                "key-vault did not answer", error="key_vault_unavailable"
            ) from None
        data = json.loads(msg.data)
        if isinstance(data, dict) and data.get("status") == "error":
            raise error_for_code(int(data["code"]), str(data["message"]), str(data["error"]))
        return reply.model_validate(data)
