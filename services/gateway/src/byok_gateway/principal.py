"""Who is calling and what they may touch: account, role and scopes of a bearer token."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from byok_contracts import Forbidden
from byok_contracts.v1 import Scope, ScopeType
from byok_shared.apitokens import ALL_ACCOUNTS, scope_allowed

__all__ = ["Principal", "Role"]

Role = Literal["backend", "viewer", "operator", "end_user"]
_WRITERS = ("backend", "operator", "end_user")


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller.

    API tokens (``byok tokens create``) carry scope *prefixes* (``workspace:acme-``);
    end-user tokens carry exact scopes (``workspace:acme-42``, ``agent:a1``).
    """

    token_id: str
    account: str
    role: Role
    scopes: tuple[str, ...] = ()
    exact: bool = False
    expires_at: int | None = None

    @property
    def all_accounts(self) -> bool:
        return self.account == ALL_ACCOUNTS

    @property
    def restricted(self) -> bool:
        return bool(self.scopes)

    def require_role(self, *roles: Role) -> None:
        if self.role not in roles:
            raise Forbidden(
                f"A {self.role.replace('_', '-')} token cannot do this", error="token_role"
            )

    def require_writer(self) -> None:
        if self.role not in _WRITERS:
            raise Forbidden("This token is read-only", error="read_only_token")

    def check_account(self, account: str) -> None:
        if not self.all_accounts and account != self.account:
            raise Forbidden("This token belongs to another account", error="wrong_account")

    def check_account_wide(self, account: str) -> None:
        """Account-wide data (usage of the account, its policy changes): no scope limits."""
        self.check_account(account)
        if self.restricted:
            raise Forbidden(
                "This token is limited to some scopes, not the whole account",
                error="scope_not_allowed",
            )

    def check_scope(self, scope: Scope, *, write: bool) -> None:
        if write:
            self.require_writer()
        if scope.type is ScopeType.PLATFORM and self.role != "operator":
            raise Forbidden("Only operator tokens reach the platform scope", error="platform_scope")
        if self.exact:
            allowed = str(scope) in self.scopes
        else:
            allowed = scope_allowed(list(self.scopes), scope.type.value, scope.id)
        if not allowed:
            raise Forbidden("This token does not cover that scope", error="scope_not_allowed")

    def account_for(self, requested: str | None) -> str | None:
        """The account a request acts for: the token's, or (all-accounts tokens) the one asked."""
        if requested is not None:
            self.check_account(requested)
            return requested
        return None if self.all_accounts else self.account

    def describe(self) -> dict[str, object]:
        return {
            "account": self.account,
            "role": self.role,
            "scopes": list(self.scopes),
            "token_id": self.token_id,
            "expires_at": self.expires_at,
        }
