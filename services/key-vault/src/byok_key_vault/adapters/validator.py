"""The key-vault -> validator hop: the key travels sealed to one validator replica."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
from nats.aio.client import Client as NatsClient

from byok_contracts import Unavailable, load_public_key, seal, subjects
from byok_contracts.v1 import ValidatorPublicKey, ValidatorPublicKeyRequest
from byok_shared import calls
from byok_shared.request import Requester

__all__ = ["NatsValidator", "ValidatorUnavailable"]


class ValidatorUnavailable(Unavailable, word="validator_unavailable"):
    """No validator replica answered: the key cannot be checked now (retryable)."""


class NatsValidator:
    """Asks a validator replica for its key, seals to it, sends to that replica's subject.

    The replica's key is cached; when the replica is gone (no responders, timeout)
    the key is fetched again once, from whichever replica answers now.
    """

    def __init__(self, nc: NatsClient, *, timeout: float = 9.5) -> None:
        self._validator = Requester(nc, timeout=timeout, unavailable=ValidatorUnavailable)
        self._directory = Requester(nc, timeout=2.0, unavailable=ValidatorUnavailable)
        self._replica: tuple[ValidatorPublicKey, X25519PublicKey] | None = None

    async def validate(self, provider: str, key: bytes) -> None:
        for attempt in range(2):
            replica, public_key = await self._current(refresh=attempt > 0)
            subject = subjects.keys_validate_for(replica.replica)
            sealed = seal(key, public_key, subject)
            body = calls.KEYS_VALIDATE.body({"provider": provider, "sealed_key": sealed})
            try:
                await self._validator.request(calls.KEYS_VALIDATE, body, subject=subject)
            except ValidatorUnavailable:  # this replica is gone; an error reply is not
                self._replica = None
                continue
            return
        raise ValidatorUnavailable("No validator could check the key")

    async def _current(self, *, refresh: bool) -> tuple[ValidatorPublicKey, X25519PublicKey]:
        """The replica and its key, decoded once (not on every configure)."""
        if self._replica is None or refresh:
            ask = ValidatorPublicKeyRequest()
            replica = await self._directory.request(calls.VALIDATOR_PUBLIC_KEY, ask)
            self._replica = replica, load_public_key(replica.public_key)
        return self._replica
