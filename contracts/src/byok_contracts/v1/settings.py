"""Scope settings and account policy: ``byok.v1.scopes.configure``, ``byok.v1.accounts.configure``."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from byok_contracts.redaction import refuse_keys

from .common import AccountId, Actor, OwningAccount, Provider, Reply, Request, Route, Scope

__all__ = [
    "AccountPolicy",
    "AccountPolicyReply",
    "ConfigureAccount",
    "ConfigureScope",
    "Mode",
    "ScopeSettings",
    "ScopeSettingsReply",
]


class Mode(StrEnum):
    BYOK_FIRST = "byok_first"
    CREDITS_FIRST = "credits_first"


class ScopeSettings(Reply):
    """Settings of one scope. Defaults apply to a scope nobody configured."""

    scope: Scope
    byok_enabled: bool = True
    active_provider: Provider | None = None
    read_only: bool = False
    route: Route = "auto"


class ConfigureScope(Request):
    """``byok.v1.scopes.configure``: change any of the scope's settings."""

    scope: Scope
    byok_enabled: bool | None = None
    active_provider: Provider | None = None
    read_only: bool | None = None
    route: Route | None = None
    actor: Actor | None = None
    account: OwningAccount = None


class ScopeSettingsReply(ScopeSettings):
    status: Literal["ok"] = "ok"


class AccountPolicy(Reply):
    """Plan rules of one account (defaults per DESIGN.md section 5)."""

    account: AccountId
    plan: str = "default"
    byok_allowed: bool = True
    mode: Mode = Mode.BYOK_FIRST
    platform_fallback: bool = True
    allow_custom_models: bool = False


class ConfigureAccount(Request):
    """``byok.v1.accounts.configure``: change any of the account's plan rules."""

    account: AccountId
    plan: (
        Annotated[
            str,
            Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9 _.-]*$"),
            AfterValidator(refuse_keys),
        ]
        | None
    ) = None
    byok_allowed: bool | None = None
    mode: Mode | None = None
    platform_fallback: bool | None = None
    allow_custom_models: bool | None = None
    actor: Actor | None = None


class AccountPolicyReply(AccountPolicy):
    status: Literal["ok"] = "ok"
