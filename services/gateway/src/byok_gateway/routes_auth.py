"""Who am I, end-user tokens for the settings page, and the health probe."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from byok_contracts import Forbidden
from byok_contracts.v1 import Scope, ScopeType

from .deps import Caller, Gateway
from .problems import ERROR_RESPONSES, error_response
from .routes_keys import list_keys
from .schemas import EndUserTokenReply, EndUserTokenRequest, HealthReply, WhoAmI
from .state import GatewayState

__all__ = ["router"]

router = APIRouter(responses=ERROR_RESPONSES)


@router.get("/v1/whoami", response_model=WhoAmI, tags=["auth"])
async def whoami(caller: Caller) -> WhoAmI:
    """The account, role and scopes of the bearer token."""
    expires = (
        datetime.fromtimestamp(caller.expires_at, UTC) if caller.expires_at is not None else None
    )
    return WhoAmI(
        account=caller.account,
        role=caller.role,
        scopes=list(caller.scopes),
        token_id=caller.token_id,
        expires_at=expires,
    )


@router.post("/v1/end-user-tokens", response_model=EndUserTokenReply, tags=["auth"])
async def mint_end_user_token(
    state: Gateway, caller: Caller, body: EndUserTokenRequest
) -> EndUserTokenReply:
    """A short-lived token for one end user's scope (and agent scopes for per-agent routing),
    for the settings page. Minted by a backend (or operator) API token of one account."""
    caller.require_role("backend", "operator")
    if caller.all_accounts:
        raise Forbidden("Mint end-user tokens with a token of one account", error="token_role")
    scopes = [body.scope, *(Scope(type=ScopeType.AGENT, id=a) for a in body.agents)]
    for scope in scopes:
        caller.check_scope(scope, write=True)
        await list_keys(state, caller, scope)  # a scope of another account: 403 wrong_account
    settings = state.settings
    ttl = min(body.ttl_seconds or settings.end_user_ttl_default, settings.end_user_ttl_max)
    claims = state.end_users.mint(
        account=caller.account,
        scopes=list(dict.fromkeys(str(s) for s in scopes)),
        parent=caller.token_id,
        ttl=ttl,
    )
    return EndUserTokenReply(
        token=state.end_users.encode(claims),
        expires_at=datetime.fromtimestamp(claims.expires_at, UTC),
        account=caller.account,
        scope=body.scope,
        scopes=list(claims.scopes),
    )


@router.get(
    "/healthz",
    response_model=HealthReply,
    tags=["health"],
    responses={503: ERROR_RESPONSES[503]},
)
async def healthz(request: Request) -> HealthReply | JSONResponse:
    """Liveness and NATS connectivity of this replica (no token needed)."""
    state: GatewayState = request.app.state.gateway
    if not state.client.nc.is_connected:
        return error_response(503, "unavailable", "Not connected to NATS")
    return HealthReply(nats=True)
