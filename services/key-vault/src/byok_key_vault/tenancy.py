"""Tenancy of key-vault writes: every non-platform scope belongs to one account.

The owner is fixed by the first write that names the scope (``byok-owners``,
compare-and-set, so two racing first writes cannot both win). Platform scopes
belong to nobody and serve every account. An ``account`` scope belongs to the
account it names.
"""

from __future__ import annotations

from byok_contracts import MalformedRequest, WrongAccount
from byok_contracts.v1 import Scope, ScopeType

from .ports import OwnerStore

__all__ = ["account_for", "check_owner", "claim_owner"]


def account_for(scope: Scope, account: str | None) -> str | None:
    """The account a write acts for: None for platform; 400 when a tenant scope names none."""
    if scope.type is ScopeType.PLATFORM:
        return None
    if scope.type is ScopeType.ACCOUNT:
        if account is not None and account != scope.id:
            raise WrongAccount("This scope belongs to another account")
        return scope.id
    if account is None:
        raise MalformedRequest(
            "account is required for a scope that is not platform", error="account_required"
        )
    return account


async def claim_owner(scope: Scope, account: str | None, owners: OwnerStore) -> str | None:
    """Check (and on the first write, record) that ``account`` owns ``scope``."""
    acting = account_for(scope, account)
    if acting is None:
        return None
    if await owners.claim(scope.key, acting) != acting:
        raise WrongAccount("This scope belongs to another account")
    return acting


async def check_owner(scope: Scope, account: str | None, owners: OwnerStore) -> str | None:
    """Like :func:`claim_owner` without recording (removes, state changes, reads)."""
    acting = account_for(scope, account)
    if acting is None:
        return None
    owner = await owners.get(scope.key)
    if owner is not None and owner != acting:
        raise WrongAccount("This scope belongs to another account")
    return acting
