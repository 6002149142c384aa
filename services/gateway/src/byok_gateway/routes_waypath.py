"""Waypath-compatible endpoints, exactly as that seed documents them.

``POST /api/integrations/{claude|openai|gemini}/configure`` with ``{"apiKey": ...}``
answers ``{"status": "configured", "provider": "claude"}``; invalid keys are
``401 Invalid <provider> key: <reason>``, read-only workspaces ``403``;
``DELETE /api/integrations/{provider}`` clears the key. The scope is the
end-user token's, or ``?scope=type:id``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from byok_contracts import KeyRejected, MalformedRequest
from byok_contracts.v1 import Provider, Scope

from .deps import Caller, Gateway
from .principal import Principal
from .problems import ERROR_RESPONSES
from .routes_keys import configure_key, remove_key
from .schemas import (
    PlaintextKeyBody,
    WaypathConfigure,
    WaypathConfigured,
    WaypathProvider,
    WaypathRemoved,
)

__all__ = ["router"]

router = APIRouter(prefix="/api/integrations", responses=ERROR_RESPONSES, tags=["waypath"])

_PROVIDERS: dict[str, Provider] = {"claude": "anthropic", "openai": "openai", "gemini": "gemini"}
_SCOPE_QUERY = (
    r"^(session|agent|chatbot|workspace|account|user|platform):[A-Za-z0-9][A-Za-z0-9_-]{0,127}$"
)
ScopeQuery = Annotated[
    str | None,
    Query(pattern=_SCOPE_QUERY, description="type:id (default: the end-user token's scope)"),
]


def _scope_of(caller: Principal, scope: str | None) -> Scope:
    if scope is not None:
        return Scope.parse(scope)
    if caller.exact and caller.scopes:
        return Scope.parse(caller.scopes[0])
    raise MalformedRequest(
        "Name the scope (?scope=type:id) or use an end-user token", error="scope_required"
    )


@router.post("/{provider}/configure", response_model=WaypathConfigured)
async def configure(
    state: Gateway,
    caller: Caller,
    provider: WaypathProvider,
    body: WaypathConfigure,
    scope: ScopeQuery = None,
) -> WaypathConfigured:
    """Validate the key live against the provider and store it for the scope."""
    key = PlaintextKeyBody(api_key=body.apiKey, provider=_PROVIDERS[provider], model=body.model)
    try:
        reply = await configure_key(state, caller, _scope_of(caller, scope), key)
    except KeyRejected as exc:
        raise _in_waypath_words(exc, provider) from None
    return WaypathConfigured(
        provider=provider, hint=reply.hint, model=reply.model, key_id=reply.key_id
    )


def _in_waypath_words(exc: KeyRejected, provider: str) -> KeyRejected:
    """``401 Invalid claude key: <reason>``: the provider as this API names it."""
    ours = f"Invalid {_PROVIDERS[provider]} key"
    if not exc.message.startswith(ours):
        return exc
    return KeyRejected(f"Invalid {provider} key{exc.message[len(ours) :]}", error=exc.error)


@router.delete("/{provider}", response_model=WaypathRemoved)
async def remove(
    state: Gateway, caller: Caller, provider: WaypathProvider, scope: ScopeQuery = None
) -> WaypathRemoved:
    """Clear the stored key; agents routed through it fall back on their next turn."""
    await remove_key(state, caller, _scope_of(caller, scope), _PROVIDERS[provider])
    return WaypathRemoved(provider=provider)
