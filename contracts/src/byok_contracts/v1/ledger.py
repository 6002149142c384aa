"""Credit ledger: ``byok.v1.ledger.grant`` and ``byok.v1.ledger.balance``."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from .common import AccountId, Reply, Request, RequestId
from .settings import Mode

__all__ = ["Balance", "BalanceRequest", "Grant", "Granted"]


class Grant(Request):
    account: AccountId
    amount: Annotated[int, Field(gt=0, le=10**12)]
    reason: Annotated[str, Field(min_length=1, max_length=256)]
    idempotency_key: RequestId


class Granted(Reply):
    status: Literal["granted"] = "granted"
    balance: int


class BalanceRequest(Request):
    account: AccountId


class Balance(Reply):
    status: Literal["ok"] = "ok"
    balance: int
    mode: Mode
    credits_paused: bool
