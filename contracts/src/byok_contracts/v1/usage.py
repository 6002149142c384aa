"""Usage: the ``byok.v1.usage.recorded`` event and ``byok.v1.usage.query``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, Self

from pydantic import Field, model_validator

from .common import (
    AccountId,
    Chain,
    Event,
    KeyId,
    ModelId,
    Provider,
    Reply,
    Request,
    RequestId,
    Scope,
)

__all__ = ["ModelUsage", "QueryUsage", "UsageRecorded", "UsageReport", "usage_msg_id"]

TokenCount = Annotated[int, Field(ge=0, le=100_000_000)]


def usage_msg_id(account: str, request_id: str) -> str:
    """The ``Nats-Msg-Id`` of a ``usage.recorded``: ``<account>:<request_id>``.

    Deduplication is per (account, request_id): the stream's duplicate window
    must never let tenant A's request_id drop tenant B's event, so the header
    names both. (An account id has no ``:``, so the pair is unambiguous.)
    """
    return f"{account}:{request_id}"


class UsageRecorded(Event):
    """Published by runtimes after each provider call, with
    ``Nats-Msg-Id: <account>:<request_id>`` (:func:`usage_msg_id`).

    ``source`` is the runtime's claim; the ledger derives it from ``key_id``:
    a call on a platform-scope key is platform usage whatever is claimed.
    """

    request_id: RequestId
    account: AccountId
    chain: Chain
    key_id: KeyId | None = None
    source: Literal["byok", "platform"]
    provider: Provider
    model: ModelId
    input_tokens: TokenCount
    output_tokens: TokenCount
    occurred_at: datetime


class QueryUsage(Request):
    """``byok.v1.usage.query``: exactly one of ``scope``, ``key_id``, ``account``."""

    scope: Scope | None = None
    key_id: KeyId | None = None
    account: AccountId | None = None
    since: datetime | None = None
    until: datetime | None = None

    @model_validator(mode="after")
    def _exactly_one_target(self) -> Self:
        targets = [t for t in (self.scope, self.key_id, self.account) if t is not None]
        if len(targets) != 1:
            raise ValueError("give exactly one of scope, key_id, account")
        return self


class _Counts(Reply):
    """Provider calls and the tokens they moved."""

    calls: int
    input_tokens: int
    output_tokens: int


class ModelUsage(_Counts):
    """One model's share of a :class:`UsageReport`; ``priced`` false: no known price."""

    estimated_cost_usd: float | None
    priced: bool = True


class UsageReport(_Counts):
    status: Literal["ok"] = "ok"
    estimated_cost_usd: float
    by_model: dict[str, ModelUsage]
    unpriced_calls: int = 0
    unpriced_models: list[str] = Field(default_factory=list)
