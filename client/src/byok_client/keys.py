"""Key management for product backends: configure, list, disable, remove, report.

Keys are sealed to key-vault's public key inside :meth:`KeysMixin.configure`;
they never leave the process in clear.
"""

from __future__ import annotations

import json
from typing import Any

from byok_contracts import Conflict, seal_configure, subjects
from byok_contracts.v1 import (
    AccountPolicyReply,
    KeyConfigured,
    KeyInfo,
    KeyList,
    KeyRemoved,
    KeyReportAccepted,
    KeysRotated,
    KeyStateChanged,
    PublicKey,
    Scope,
    ScopeSettingsReply,
)

from .base import BaseClient

__all__ = ["KeysMixin", "ScopeLike"]

ScopeLike = Scope | str | dict[str, str]


def _scope(scope: ScopeLike) -> dict[str, str]:
    if isinstance(scope, str):
        scope = Scope.parse(scope)
    if isinstance(scope, Scope):
        return {"type": scope.type.value, "id": scope.id}
    return dict(scope)


class KeysMixin(BaseClient):
    """``byok.v1.keys.*``, ``scopes.configure`` and ``accounts.configure``."""

    _vault_key: PublicKey | None = None

    async def public_key(self, *, refresh: bool = False) -> PublicKey:
        """key-vault's sealing key (cached; ``refresh`` after a rotation)."""
        if self._vault_key is None or refresh:
            self._vault_key = await self.request(subjects.KEYS_PUBLIC_KEY, {}, PublicKey)
        return self._vault_key

    async def _configure_body(
        self,
        scope: ScopeLike,
        key: str,
        *,
        provider: str | None,
        model: str | None,
        actor: str,
        request_id: str | None,
        account: str | None,
        refresh: bool = False,
    ) -> dict[str, Any]:
        vault = await self.public_key(refresh=refresh)
        where = _scope(scope)
        account = self._account_for(where, account)
        sealed = seal_configure(
            key, vault.public_key, account=account, scope=where, request_id=request_id
        )
        body: dict[str, Any] = {
            "scope": where,
            "sealed_key": sealed,
            "kid": vault.kid,
            "actor": actor,
        }
        optional = {
            "provider": provider,
            "model": model,
            "request_id": request_id,
            "account": account,
        }
        body.update({k: v for k, v in optional.items() if v is not None})
        return body

    async def configure(
        self,
        scope: ScopeLike,
        key: str,
        *,
        provider: str | None = None,
        model: str | None = None,
        actor: str = "byok-client",
        request_id: str | None = None,
        account: str | None = None,
    ) -> KeyConfigured:
        """Validate live, encrypt and store ``key`` at ``scope``; raises the typed error."""
        for refresh in (False, True):
            body = await self._configure_body(
                scope,
                key,
                provider=provider,
                model=model,
                actor=actor,
                request_id=request_id,
                account=account,
                refresh=refresh,
            )
            try:
                return await self.request(subjects.KEYS_CONFIGURE, body, KeyConfigured)
            except Conflict as exc:
                if exc.error != "stale_kid" or refresh:
                    raise
        raise AssertionError("unreachable")

    async def publish_configure(
        self,
        scope: ScopeLike,
        key: str,
        *,
        request_id: str,
        provider: str | None = None,
        model: str | None = None,
        actor: str = "byok-client",
        account: str | None = None,
    ) -> None:
        """Fire and forget: the outcome arrives as ``events.keys.configured``/``rejected``."""
        body = await self._configure_body(
            scope,
            key,
            provider=provider,
            model=model,
            actor=actor,
            request_id=request_id,
            account=account,
        )
        await self.nc.publish(subjects.KEYS_CONFIGURE, _json(body))

    def _account_for(self, scope: dict[str, str], account: str | None) -> str | None:
        """Explicit, else the scope's own id for an ``account`` scope, else the client's
        default; never an account for a platform scope."""
        if scope.get("type") == "platform":
            return None
        if account is not None:
            return account
        if scope.get("type") == "account":
            return scope.get("id")
        return self.account

    def _scoped(self, scope: ScopeLike, account: str | None, **fields: Any) -> dict[str, Any]:
        where = _scope(scope)
        body: dict[str, Any] = {"scope": where, **fields}
        chosen = self._account_for(where, account)
        if chosen is not None:
            body["account"] = chosen
        return body

    async def remove(
        self,
        scope: ScopeLike,
        provider: str,
        *,
        actor: str = "byok-client",
        account: str | None = None,
    ) -> KeyRemoved:
        body = self._scoped(scope, account, provider=provider, actor=actor)
        return await self.request(subjects.KEYS_REMOVE, body, KeyRemoved)

    async def list_keys(self, scope: ScopeLike, *, account: str | None = None) -> list[KeyInfo]:
        """The scope's keys: hints, models and states, never the keys."""
        body = self._scoped(scope, account)
        return (await self.request(subjects.KEYS_LIST, body, KeyList)).keys

    async def set_enabled(
        self,
        scope: ScopeLike,
        provider: str,
        enabled: bool,
        *,
        actor: str = "byok-client",
        account: str | None = None,
    ) -> KeyStateChanged:
        body = self._scoped(scope, account, provider=provider, enabled=enabled, actor=actor)
        return await self.request(subjects.KEYS_SET_ENABLED, body, KeyStateChanged)

    async def configure_scope(
        self, scope: ScopeLike, *, account: str | None = None, **settings: Any
    ) -> ScopeSettingsReply:
        """Any of ``byok_enabled``, ``active_provider``, ``read_only``, ``route``, ``actor``."""
        body = self._scoped(scope, account, **{k: v for k, v in settings.items() if v is not None})
        return await self.request(subjects.SCOPES_CONFIGURE, body, ScopeSettingsReply)

    async def configure_account(self, account: str, **policy: Any) -> AccountPolicyReply:
        """Any of ``plan``, ``byok_allowed``, ``mode``, ``platform_fallback``,
        ``allow_custom_models``, ``actor``."""
        body = {"account": account, **{k: v for k, v in policy.items() if v is not None}}
        return await self.request(subjects.ACCOUNTS_CONFIGURE, body, AccountPolicyReply)

    async def report(self, key_id: str, status_code: int, reason: str = "") -> KeyReportAccepted:
        """Tell byok the provider answered ``status_code`` for ``key_id`` (401 may revoke it)."""
        body = {"key_id": key_id, "status_code": status_code, "reason": reason[:1024]}
        return await self.request(subjects.KEYS_REPORT, body, KeyReportAccepted)

    async def rotate_keys(
        self, *, cipher: bool = True, sealing: bool = False, actor: str = "operator"
    ) -> KeysRotated:
        """Operator: rotate the cipher key and rewrap every stored ciphertext (live)."""
        body = {"cipher": cipher, "sealing": sealing, "actor": actor}
        reply = await self.request(subjects.INTERNAL_KEYS_ROTATE, body, KeysRotated)
        if sealing:
            self._vault_key = None
        return reply


def _json(body: dict[str, Any]) -> bytes:
    return json.dumps(body).encode()
