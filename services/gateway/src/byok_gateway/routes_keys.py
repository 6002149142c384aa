"""Keys and settings per scope: ``/v1/scopes/{type}/{id}/...``, plus the public key and catalog."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body

from byok_contracts import SUITE, subjects
from byok_contracts.v1 import (
    ConfigureKey,
    ConfigureScope,
    KeyConfigured,
    KeyList,
    KeyRemoved,
    KeyStateChanged,
    ListKeys,
    Provider,
    PublicKey,
    RemoveKey,
    Scope,
    ScopeSettingsReply,
    SetKeyEnabled,
)

from .deps import Caller, Gateway, PathScope
from .principal import Principal
from .problems import ERROR_RESPONSES
from .schemas import (
    CatalogProvider,
    CatalogReply,
    PlaintextKeyBody,
    ScopeSettingsPatch,
    SealedKeyBody,
    SetEnabledBody,
)
from .state import GatewayState, with_account

__all__ = ["configure_key", "list_keys", "remove_key", "router"]

router = APIRouter(prefix="/v1", responses=ERROR_RESPONSES)

_PREFIXES = {"anthropic": "sk-ant-", "openai": "sk-", "gemini": "AIza"}


@router.get("/public-key", response_model=PublicKey, tags=["keys"])
async def public_key(state: Gateway, caller: Caller) -> PublicKey:
    """key-vault's current sealing key: seal ``keys.configure`` keys to it (RFC 9180)."""
    reply = await state.client.public_key(refresh=True)
    return PublicKey(public_key=reply.public_key, kid=reply.kid, suite=reply.suite or SUITE)


@router.get("/catalog", response_model=CatalogReply, tags=["keys"])
async def catalog(state: Gateway, caller: Caller) -> CatalogReply:
    """Providers with their key prefix, default model and curated models."""
    cat = state.catalog
    return CatalogReply(
        providers=[
            CatalogProvider(
                provider=p,
                key_prefix=_PREFIXES.get(p, ""),
                default_model=cat.default_model(p),
                models=cat.models(p),
            )
            for p in cat.providers()
        ]
    )


async def list_keys(state: GatewayState, caller: Principal, scope: Scope) -> KeyList:
    caller.check_scope(scope, write=False)
    body = with_account(ListKeys, {"scope": _scope(scope)}, caller.account_for(None))
    return await state.client.request(subjects.KEYS_LIST, body, KeyList)


async def configure_key(
    state: GatewayState, caller: Principal, scope: Scope, key: SealedKeyBody | PlaintextKeyBody
) -> KeyConfigured:
    """Sealed: passed through untouched. Plaintext: sealed to key-vault by the client edge."""
    caller.check_scope(scope, write=True)
    account = caller.account_for(None)
    actor = f"{state.actor}:{caller.token_id}"
    if isinstance(key, PlaintextKeyBody):
        return await state.client.configure(
            scope,
            key.api_key,
            provider=key.provider,
            model=key.model,
            actor=actor,
            request_id=key.request_id,
            account=account,
        )
    body: dict[str, Any] = {
        "scope": _scope(scope),
        "sealed_key": key.sealed_key,
        "kid": key.kid,
        "actor": actor,
    }
    extra = {"provider": key.provider, "model": key.model, "request_id": key.request_id}
    body.update({k: v for k, v in extra.items() if v is not None})
    with_account(ConfigureKey, body, account)
    return await state.client.request(subjects.KEYS_CONFIGURE, body, KeyConfigured)


async def remove_key(
    state: GatewayState, caller: Principal, scope: Scope, provider: str
) -> KeyRemoved:
    caller.check_scope(scope, write=True)
    body: dict[str, Any] = {
        "scope": _scope(scope),
        "provider": provider,
        "actor": f"{state.actor}:{caller.token_id}",
    }
    with_account(RemoveKey, body, caller.account_for(None))
    return await state.client.request(subjects.KEYS_REMOVE, body, KeyRemoved)


@router.get("/scopes/{type}/{id}/keys", response_model=KeyList, tags=["keys"])
async def get_keys(state: Gateway, caller: Caller, scope: PathScope) -> KeyList:
    """The scope's keys: provider, hint, model, state; never the key."""
    return await list_keys(state, caller, scope)


@router.post("/scopes/{type}/{id}/keys", response_model=KeyConfigured, tags=["keys"])
async def post_key(
    state: Gateway,
    caller: Caller,
    scope: PathScope,
    key: Annotated[SealedKeyBody | PlaintextKeyBody, Body()],
) -> KeyConfigured:
    """Validate live, encrypt and store a key (sealed, or plaintext over TLS)."""
    return await configure_key(state, caller, scope, key)


@router.delete("/scopes/{type}/{id}/keys/{provider}", response_model=KeyRemoved, tags=["keys"])
async def delete_key(
    state: Gateway, caller: Caller, scope: PathScope, provider: Provider
) -> KeyRemoved:
    return await remove_key(state, caller, scope, provider)


@router.put(
    "/scopes/{type}/{id}/keys/{provider}/enabled", response_model=KeyStateChanged, tags=["keys"]
)
async def put_enabled(
    state: Gateway, caller: Caller, scope: PathScope, provider: Provider, body: SetEnabledBody
) -> KeyStateChanged:
    """Disable a key without deleting it, or enable it again."""
    caller.check_scope(scope, write=True)
    request: dict[str, Any] = {
        "scope": _scope(scope),
        "provider": provider,
        "enabled": body.enabled,
        "actor": f"{state.actor}:{caller.token_id}",
    }
    with_account(SetKeyEnabled, request, caller.account_for(None))
    return await state.client.request(subjects.KEYS_SET_ENABLED, request, KeyStateChanged)


async def _scope_settings(
    state: GatewayState, caller: Principal, scope: Scope, changes: dict[str, Any]
) -> ScopeSettingsReply:
    body: dict[str, Any] = {"scope": _scope(scope), **changes}
    if changes:
        body["actor"] = f"{state.actor}:{caller.token_id}"
    with_account(ConfigureScope, body, caller.account_for(None))
    return await state.client.request(subjects.SCOPES_CONFIGURE, body, ScopeSettingsReply)


@router.get("/scopes/{type}/{id}/settings", response_model=ScopeSettingsReply, tags=["settings"])
async def get_settings(state: Gateway, caller: Caller, scope: PathScope) -> ScopeSettingsReply:
    """BYOK on or off, the active provider, read-only and the route of the scope."""
    caller.check_scope(scope, write=False)
    return await _scope_settings(state, caller, scope, {})


@router.patch("/scopes/{type}/{id}/settings", response_model=ScopeSettingsReply, tags=["settings"])
async def patch_settings(
    state: Gateway, caller: Caller, scope: PathScope, patch: ScopeSettingsPatch
) -> ScopeSettingsReply:
    """Change any of ``byok_enabled``, ``active_provider``, ``read_only``, ``route``."""
    caller.check_scope(scope, write=True)
    changes = patch.model_dump(exclude_none=True, mode="json")
    if "read_only" in changes:
        caller.require_role("backend", "operator")
    return await _scope_settings(state, caller, scope, changes)


def _scope(scope: Scope) -> dict[str, str]:
    return {"type": scope.type.value, "id": scope.id}
