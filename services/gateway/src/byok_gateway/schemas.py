"""HTTP request and response bodies that are not v1 messages as they are."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StringConstraints,
)

from byok_contracts.v1 import Provider, Scope
from byok_contracts.v1.common import ID_PATTERN, AccountId, ModelId, RequestId, Route, SealedBlob
from byok_contracts.v1.settings import Mode

__all__ = [
    "AccountPolicyPatch",
    "CatalogProvider",
    "CatalogReply",
    "EndUserTokenReply",
    "EndUserTokenRequest",
    "GrantBody",
    "HealthReply",
    "PlaintextKeyBody",
    "ScopeSettingsPatch",
    "SealedKeyBody",
    "SetEnabledBody",
    "WaypathConfigure",
    "WaypathConfigured",
    "WaypathProvider",
    "WaypathRemoved",
    "WhoAmI",
]

ApiKey = Annotated[str, StringConstraints(min_length=1, max_length=1024)]
AgentId = Annotated[str, StringConstraints(pattern=ID_PATTERN)]


class Body(BaseModel):
    """Unknown fields are refused; booleans and integers are strict (``0`` is not ``false``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class SealedKeyBody(Body):
    """A key sealed in the browser or the product's backend: the gateway never sees it."""

    sealed_key: SealedBlob
    kid: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
    provider: Provider | None = None
    model: ModelId | None = None
    request_id: RequestId | None = None


class PlaintextKeyBody(Body):
    """A key in clear over TLS: sealed to key-vault at once, held only in memory."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    api_key: ApiKey = Field(validation_alias=AliasChoices("api_key", "apiKey"))
    provider: Provider | None = None
    model: ModelId | None = None
    request_id: RequestId | None = None


class SetEnabledBody(Body):
    enabled: StrictBool


class ScopeSettingsPatch(Body):
    byok_enabled: StrictBool | None = None
    active_provider: Provider | None = None
    read_only: StrictBool | None = None
    route: Route | None = None


class AccountPolicyPatch(Body):
    plan: (
        Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9 _.-]*$")]
        | None
    ) = None
    byok_allowed: StrictBool | None = None
    mode: Mode | None = None
    platform_fallback: StrictBool | None = None
    allow_custom_models: StrictBool | None = None


class GrantBody(Body):
    amount: Annotated[StrictInt, Field(gt=0, le=10**12)]
    reason: Annotated[str, Field(min_length=1, max_length=256)]
    idempotency_key: RequestId


class EndUserTokenRequest(Body):
    scope: Scope
    ttl_seconds: Annotated[StrictInt, Field(ge=30, le=86_400)] | None = None
    agents: Annotated[list[AgentId], Field(max_length=32)] = Field(default_factory=list)


class EndUserTokenReply(BaseModel):
    status: Literal["ok"] = "ok"
    token: str
    expires_at: datetime
    account: AccountId
    scope: Scope
    scopes: list[str]


class WhoAmI(BaseModel):
    status: Literal["ok"] = "ok"
    account: str
    role: str
    scopes: list[str]
    token_id: str
    expires_at: datetime | None = None


class CatalogProvider(BaseModel):
    provider: str
    key_prefix: str
    default_model: str
    models: list[str]


class CatalogReply(BaseModel):
    status: Literal["ok"] = "ok"
    providers: list[CatalogProvider]


class HealthReply(BaseModel):
    status: Literal["ok"] = "ok"
    service: Literal["gateway"] = "gateway"
    nats: bool


class WaypathProvider(StrEnum):
    CLAUDE = "claude"
    OPENAI = "openai"
    GEMINI = "gemini"


class WaypathConfigure(Body):
    """Waypath's body: ``{"apiKey": "sk-ant-..."}`` (``model`` optional)."""

    apiKey: ApiKey  # noqa: N815 - the seed's field name
    model: ModelId | None = None


class WaypathConfigured(BaseModel):
    status: Literal["configured"] = "configured"
    provider: WaypathProvider
    hint: str
    model: str
    key_id: str


class WaypathRemoved(BaseModel):
    status: Literal["removed"] = "removed"
    provider: WaypathProvider
