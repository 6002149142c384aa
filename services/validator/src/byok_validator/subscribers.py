"""NATS edge of the validator: decode, call a handler, reply."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from faststream.nats import NatsMessage
from pydantic import BaseModel

from byok_contracts import subjects
from byok_contracts.v1 import (
    ReportKey,
    ValidateKey,
    ValidatorPublicKey,
    ValidatorPublicKeyRequest,
)
from byok_shared import Service
from byok_shared.responder import respond

from . import handlers
from .handlers import Deps

__all__ = ["register"]

Req = TypeVar("Req", bound=BaseModel)


def register(service: Service, deps: Callable[[], Deps], *, replica: str, workers: int) -> None:
    async def public_key(_: ValidatorPublicKeyRequest) -> ValidatorPublicKey:
        d = deps()
        return ValidatorPublicKey(public_key=d.keypair.public_b64, replica=d.replica)

    service.responder(subjects.INTERNAL_VALIDATOR_PUBLIC_KEY, ValidatorPublicKeyRequest)(public_key)
    # Sealed to this replica only: its own subject, no queue group.
    _concurrent(
        service,
        subjects.keys_validate_for(replica),
        ValidateKey,
        lambda cmd: handlers.validate(cmd, deps()),
        workers,
        queue="",
    )
    _concurrent(
        service,
        subjects.KEYS_REPORT,
        ReportKey,
        lambda cmd: handlers.report(cmd, deps()),
        workers,
        queue=service.queue,
    )


def _concurrent(
    service: Service,
    subject: str,
    model: type[Req],
    handler: Callable[[Req], Awaitable[BaseModel]],
    workers: int,
    *,
    queue: str,
) -> None:
    async def subscriber(msg: NatsMessage) -> bytes:
        return await respond(msg.body, model, handler, subject=subject, metrics=service.metrics)

    subscriber.__name__ = f"{service.name}:{subject}"
    service.broker.subscriber(subject, queue=queue, max_workers=workers)(subscriber)
