"""FastAPI dependencies: the shared state, the authenticated (and rate-limited) caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from byok_contracts.v1 import Scope, ScopeType
from byok_contracts.v1.common import ID_PATTERN

from .principal import Principal
from .state import GatewayState, RateLimited

__all__ = ["Caller", "Gateway", "PathScope", "ScopeId", "get_state"]

_bearer = HTTPBearer(auto_error=False, description="An API token or an end-user token")


# Dependencies are ``async``: FastAPI runs plain ``def`` ones in a worker thread.
async def get_state(request: Request) -> GatewayState:
    state: GatewayState = request.app.state.gateway
    return state


async def authenticate(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    state: GatewayState = request.app.state.gateway
    header = f"Bearer {credentials.credentials}" if credentials is not None else None
    principal = await state.verifier.principal(header)
    request.state.token_id = principal.token_id
    wait = state.limiter.acquire(principal.token_id)
    if wait > 0:
        raise RateLimited(state.limiter.retry_after(wait))
    return principal


ScopeId = Annotated[str, Path(pattern=ID_PATTERN, max_length=128, description="Scope id")]


async def path_scope(type: ScopeType, id: ScopeId) -> Scope:
    return Scope(type=type, id=id)


Caller = Annotated[Principal, Depends(authenticate)]
Gateway = Annotated[GatewayState, Depends(get_state)]
PathScope = Annotated[Scope, Depends(path_scope)]
