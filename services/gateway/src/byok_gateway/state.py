"""What every request handler shares: the NATS client edge, token checks, limits, catalog."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import BaseModel

from byok_client import ByokClient
from byok_contracts import ByokError, Catalog
from byok_contracts.v1 import ConfigureKey, ConfigureScope, ListKeys, RemoveKey, SetKeyEnabled

from .config import GatewaySettings
from .endusers import EndUserTokens
from .ratelimit import RateLimiter
from .tokens import TokenVerifier

__all__ = ["GatewayState", "RateLimited", "with_account"]

# Requests that carry ``account`` in this version of the contract (tenancy, 0.2).
_TAKES_ACCOUNT: dict[type[BaseModel], bool] = {
    model: "account" in model.model_fields
    for model in (ConfigureKey, ConfigureScope, ListKeys, RemoveKey, SetKeyEnabled)
}


def with_account(
    model: type[BaseModel], body: dict[str, Any], account: str | None
) -> dict[str, Any]:
    """Add the caller's account to ``body`` where the contract has the field."""
    if account is not None and _TAKES_ACCOUNT.get(model, "account" in model.model_fields):
        body["account"] = account
    return body


class RateLimited(ByokError):
    code: ClassVar[int] = 429
    default_error: ClassVar[str] = "rate_limited"

    def __init__(self, retry_after: str) -> None:
        super().__init__(f"Too many requests for this token; retry in {retry_after}s")
        self.headers = {"Retry-After": retry_after}


@dataclass
class GatewayState:
    settings: GatewaySettings
    client: ByokClient
    verifier: TokenVerifier
    limiter: RateLimiter
    end_users: EndUserTokens
    catalog: Catalog
    actor: str = "gateway"
