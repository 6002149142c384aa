"""NATS edge of the validator: which handler serves which operation."""

from __future__ import annotations

from collections.abc import Callable

from byok_contracts import subjects
from byok_contracts.v1 import ValidatorPublicKey, ValidatorPublicKeyRequest
from byok_shared import Service

from . import handlers
from .handlers import Deps

__all__ = ["register"]


async def _public_key(_: ValidatorPublicKeyRequest, deps: Deps) -> ValidatorPublicKey:
    return ValidatorPublicKey(public_key=deps.keypair.public_b64, replica=deps.replica)


def register(service: Service, deps: Callable[[], Deps], *, replica: str, workers: int) -> None:
    """Serve the validator's operations; ``deps()`` is what the start hook built."""
    service.serve_table(
        {
            subjects.INTERNAL_VALIDATOR_PUBLIC_KEY: _public_key,
            subjects.KEYS_REPORT: handlers.report,
        },
        deps,
        workers=workers,
    )
    # Sealed to this replica only: its own subject, no queue group. On every configure's
    # critical path: served without faststream's per-message work.
    service.serve(
        subjects.keys_validate_for("{replica}"),
        lambda cmd: handlers.validate(cmd, deps()),
        subject=subjects.keys_validate_for(replica),
        workers=workers,
        direct=True,
    )
