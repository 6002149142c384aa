"""The key-vault -> validator hop: the key travels sealed to one validator replica."""

from __future__ import annotations

import json

from nats.aio.client import Client as NatsClient
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout

from byok_contracts import InternalError, Unavailable, error_for_code, seal, subjects
from byok_contracts.v1 import KeyValid, ValidateKey, ValidatorPublicKey

__all__ = ["NatsValidator"]


class NatsValidator:
    """Asks a validator replica for its key, seals to it, sends to that replica's subject.

    The replica's key is cached; when the replica is gone (no responders, timeout)
    the key is fetched again once, from whichever replica answers now.
    """

    def __init__(self, nc: NatsClient, *, timeout: float = 9.5) -> None:
        self.nc = nc
        self.timeout = timeout
        self._replica: ValidatorPublicKey | None = None

    async def validate(self, provider: str, key: bytes) -> None:
        for attempt in range(2):
            replica = await self._current(refresh=attempt > 0)
            subject = subjects.keys_validate_for(replica.replica)
            body = ValidateKey.model_validate(
                {"provider": provider, "sealed_key": seal(key, replica.public_key, subject)}
            )
            try:
                msg = await self.nc.request(
                    subject, body.model_dump_json().encode(), timeout=self.timeout
                )
            except (NoRespondersError, NatsTimeout):
                self._replica = None
                continue
            data = json.loads(msg.data)
            if isinstance(data, dict) and data.get("status") == "error":
                raise error_for_code(int(data["code"]), str(data["message"]), str(data["error"]))
            KeyValid.model_validate(data)
            return
        raise Unavailable("No validator could check the key", error="validator_unavailable")

    async def _current(self, *, refresh: bool) -> ValidatorPublicKey:
        if self._replica is not None and not refresh:
            return self._replica
        try:
            msg = await self.nc.request(subjects.INTERNAL_VALIDATOR_PUBLIC_KEY, b"{}", timeout=2.0)
        except (NoRespondersError, NatsTimeout):
            raise Unavailable(
                "No validator is running; the key cannot be checked", error="validator_unavailable"
            ) from None
        data = json.loads(msg.data)
        if not isinstance(data, dict) or data.get("status") != "ok":
            raise InternalError("validator answered its public key with an error")
        self._replica = ValidatorPublicKey.model_validate(data)
        return self._replica
