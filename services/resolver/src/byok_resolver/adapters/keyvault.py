"""The real :class:`~byok_resolver.ports.KeySource`: key-vault's internal unseal hop.

key-vault seals the stored key to this replica's in-memory X25519 key with the
subject as HPKE info; the material is opened here and never leaves the process
except sealed to a runtime.
"""

from __future__ import annotations

import json

from nats.aio.client import Client as NatsClient
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from pydantic import ValidationError

from byok_contracts import Keypair, SealingError, error_for_code, subjects
from byok_contracts.v1 import KeyUnsealed, UnsealKey
from byok_resolver.errors import KeySourceUnavailable
from byok_resolver.ports import Material

__all__ = ["NatsKeySource"]


class NatsKeySource:
    def __init__(self, nc: NatsClient, keypair: Keypair, *, timeout: float = 2.0) -> None:
        self.nc = nc
        self.keypair = keypair
        self.timeout = timeout
        self._request = UnsealKey  # the contract, named once

    async def unseal(self, key_id: str) -> Material:
        body = self._request(key_id=key_id, recipient_key=self.keypair.public_b64)
        subject = subjects.INTERNAL_KEYS_UNSEAL
        try:
            msg = await self.nc.request(subject, body.model_dump_json().encode(), self.timeout)
        except NoRespondersError:
            raise KeySourceUnavailable("key-vault does not answer unseal requests") from None
        except NatsTimeout:
            raise KeySourceUnavailable(f"key-vault did not answer within {self.timeout}s") from None
        try:
            data = json.loads(msg.data)
            if isinstance(data, dict) and data.get("status") == "error":
                raise error_for_code(int(data["code"]), str(data["message"]), str(data["error"]))
            reply = KeyUnsealed.model_validate(data)
            secret = self.keypair.open(reply.sealed_key, subject)
        except (ValueError, KeyError, TypeError, ValidationError, SealingError):
            raise KeySourceUnavailable("key-vault sent an unusable unseal reply") from None
        return Material(reply.key_id, reply.provider, reply.revision, secret)
