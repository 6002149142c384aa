"""Account policy, credits and usage: ``/v1/accounts/{account}/...`` and ``/v1/usage``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from byok_contracts import Forbidden, MalformedRequest, NotFound, subjects
from byok_contracts.v1 import (
    AccountPolicyReply,
    Balance,
    Granted,
    Scope,
    UsageReport,
)
from byok_contracts.v1.common import ID_PATTERN
from byok_contracts.v1.ledger import LedgerVerification

from .deps import Caller, Gateway
from .problems import ERROR_RESPONSES
from .routes_keys import list_keys
from .schemas import AccountPolicyPatch, GrantBody

__all__ = ["router"]

router = APIRouter(prefix="/v1", responses=ERROR_RESPONSES)

AccountPath = Annotated[str, Path(pattern=ID_PATTERN, max_length=128, description="Account id")]
_SCOPE_QUERY = (
    r"^(session|agent|chatbot|workspace|account|user|platform):[A-Za-z0-9][A-Za-z0-9_-]{0,127}$"
)


@router.get("/accounts/{account}/policy", response_model=AccountPolicyReply, tags=["accounts"])
async def get_policy(state: Gateway, caller: Caller, account: AccountPath) -> AccountPolicyReply:
    """The account's plan rules (defaults when nobody configured them)."""
    caller.check_account(account)
    body: dict[str, object] = {"account": account}
    return await state.client.request(subjects.ACCOUNTS_CONFIGURE, body, AccountPolicyReply)


@router.patch("/accounts/{account}/policy", response_model=AccountPolicyReply, tags=["accounts"])
async def patch_policy(
    state: Gateway, caller: Caller, account: AccountPath, patch: AccountPolicyPatch
) -> AccountPolicyReply:
    """Change any of ``plan``, ``byok_allowed``, ``mode``, ``platform_fallback``,
    ``allow_custom_models`` (backend or operator tokens for the whole account)."""
    caller.require_role("backend", "operator")
    caller.check_account_wide(account)
    body: dict[str, Any] = {"account": account, **patch.model_dump(exclude_none=True, mode="json")}
    body["actor"] = f"{state.actor}:{caller.token_id}"
    return await state.client.request(subjects.ACCOUNTS_CONFIGURE, body, AccountPolicyReply)


@router.get("/accounts/{account}/balance", response_model=Balance, tags=["credits"])
async def get_balance(state: Gateway, caller: Caller, account: AccountPath) -> Balance:
    """Credit balance, mode, and whether credits are paused (BYOK-first with a usable key)."""
    caller.check_account(account)
    return await state.client.request(subjects.LEDGER_BALANCE, {"account": account}, Balance)


@router.get(
    "/accounts/{account}/ledger/verify", response_model=LedgerVerification, tags=["credits"]
)
async def verify_ledger(state: Gateway, caller: Caller, account: AccountPath) -> LedgerVerification:
    """Recompute the account's balance from its journal and report every difference
    (backend or operator tokens for the whole account)."""
    caller.require_role("backend", "operator")
    caller.check_account_wide(account)
    return await state.client.verify_ledger(account)


@router.post("/accounts/{account}/grants", response_model=Granted, tags=["credits"])
async def post_grant(
    state: Gateway, caller: Caller, account: AccountPath, grant: GrantBody
) -> Granted:
    """Add credits once per ``idempotency_key`` (operator tokens only)."""
    caller.require_role("operator")
    caller.check_account(account)
    body = {"account": account, **grant.model_dump()}
    return await state.client.request(subjects.LEDGER_GRANT, body, Granted)


@router.get("/usage", response_model=UsageReport, tags=["usage"])
async def get_usage(
    state: Gateway,
    caller: Caller,
    scope: Annotated[str | None, Query(pattern=_SCOPE_QUERY, description="type:id")] = None,
    key_id: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    account: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> UsageReport:
    """Calls, tokens and estimated cost of a scope, a key (of ``scope``) or the account."""
    body: dict[str, Any] = {}
    if account is not None:
        if scope is not None or key_id is not None:
            raise MalformedRequest("Give account alone, or scope (with an optional key_id)")
        caller.check_account_wide(account)
        body["account"] = account
    elif scope is not None:
        parsed = Scope.parse(scope)
        # Checks the token's scopes and (with tenancy) that the scope is the account's.
        keys = await list_keys(state, caller, parsed)
        if key_id is None:
            body["scope"] = {"type": parsed.type.value, "id": parsed.id}
        elif any(k.key_id == key_id for k in keys.keys):
            body["key_id"] = key_id
        else:
            raise NotFound("No such key at this scope", error="key_not_found")
    elif key_id is not None:
        if not caller.all_accounts:
            raise Forbidden("Name the key's scope too: scope=type:id&key_id=...")
        body["key_id"] = key_id
    else:
        raise MalformedRequest("Give one of scope, key_id (with scope) or account")
    for name, value in (("since", since), ("until", until)):
        if value is not None:
            body[name] = value.isoformat()
    return await state.client.request(subjects.USAGE_QUERY, body, UsageReport)
