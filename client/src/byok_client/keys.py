"""Key management for product backends: configure, list, disable, remove, report.

Keys are sealed to key-vault's public key inside :meth:`KeysMixin.configure`;
they never leave the process in clear. Every body is its contract model, checked
before it is sent exactly as key-vault will check it.
"""

from __future__ import annotations

from dataclasses import dataclass

from byok_contracts import Conflict, seal_configure, subjects
from byok_contracts.v1 import (
    AccountPolicyReply,
    ConfigureKey,
    KeyConfigured,
    KeyInfo,
    KeyRemoved,
    KeyReportAccepted,
    KeysRotated,
    KeyStateChanged,
    Mode,
    PublicKey,
    PublicKeyRequest,
    RotateKeys,
    Scope,
    ScopeSettingsReply,
)
from byok_shared import calls

from .base import BaseClient, ScopeLike, as_scope

__all__ = ["KeysMixin"]


@dataclass(frozen=True, slots=True)
class _NewKey:
    """What one configure names; sealed afresh for every attempt."""

    scope: Scope
    key: str
    provider: str | None
    model: str | None
    actor: str
    request_id: str | None
    account: str | None


class KeysMixin(BaseClient):
    """``byok.v1.keys.*``, ``scopes.configure`` and ``accounts.configure``."""

    _vault_key: PublicKey | None = None

    async def public_key(self, *, refresh: bool = False) -> PublicKey:
        """key-vault's sealing key (cached; ``refresh`` after a rotation)."""
        if self._vault_key is None or refresh:
            self._vault_key = await self.call(calls.KEYS_PUBLIC_KEY, PublicKeyRequest())
        return self._vault_key

    async def _sealed(self, new: _NewKey, *, refresh: bool = False) -> ConfigureKey:
        vault = await self.public_key(refresh=refresh)
        sealed = seal_configure(
            new.key,
            vault.public_key,
            account=new.account,
            scope=new.scope.model_dump(mode="json"),
            request_id=new.request_id,
        )
        fields = {
            "scope": new.scope,
            "sealed_key": sealed,
            "kid": vault.kid,
            "actor": new.actor,
            "provider": new.provider,
            "model": new.model,
            "request_id": new.request_id,
            "account": new.account,
        }
        return calls.KEYS_CONFIGURE.body(fields)

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
        where = as_scope(scope)
        new = _NewKey(
            where, key, provider, model, actor, request_id, self._account_for(where, account)
        )
        for refresh in (False, True):
            body = await self._sealed(new, refresh=refresh)
            try:
                return await self.call(calls.KEYS_CONFIGURE, body)
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
        where = as_scope(scope)
        owner = self._account_for(where, account)
        body = await self._sealed(_NewKey(where, key, provider, model, actor, request_id, owner))
        await self.nc.publish(
            subjects.KEYS_CONFIGURE, body.model_dump_json(exclude_none=True).encode()
        )

    def _account_for(self, scope: Scope, account: str | None) -> str | None:
        """Explicit, else the scope's own id for an ``account`` scope, else the client's
        default; never an account for a platform scope."""
        if scope.type.value == "platform":
            return None
        if account is not None:
            return account
        if scope.type.value == "account":
            return scope.id
        return self.account

    def _scoped(self, scope: ScopeLike, account: str | None, **fields: object) -> dict[str, object]:
        """The fields of a scoped write: the scope and the account it acts for."""
        where = as_scope(scope)
        return {"scope": where, "account": self._account_for(where, account), **fields}

    async def remove(
        self,
        scope: ScopeLike,
        provider: str,
        *,
        actor: str = "byok-client",
        account: str | None = None,
    ) -> KeyRemoved:
        body = calls.KEYS_REMOVE.body(self._scoped(scope, account, provider=provider, actor=actor))
        return await self.call(calls.KEYS_REMOVE, body)

    async def list_keys(self, scope: ScopeLike, *, account: str | None = None) -> list[KeyInfo]:
        """The scope's keys: hints, models and states, never the keys."""
        body = calls.KEYS_LIST.body(self._scoped(scope, account))
        return (await self.call(calls.KEYS_LIST, body)).keys

    async def set_enabled(
        self,
        scope: ScopeLike,
        provider: str,
        enabled: bool,
        *,
        actor: str = "byok-client",
        account: str | None = None,
    ) -> KeyStateChanged:
        fields = self._scoped(scope, account, provider=provider, enabled=enabled, actor=actor)
        return await self.call(calls.KEYS_SET_ENABLED, calls.KEYS_SET_ENABLED.body(fields))

    async def configure_scope(
        self,
        scope: ScopeLike,
        *,
        byok_enabled: bool | None = None,
        active_provider: str | None = None,
        read_only: bool | None = None,
        route: str | None = None,
        actor: str | None = None,
        account: str | None = None,
    ) -> ScopeSettingsReply:
        """Change any of the scope's settings (``None`` leaves one as it is).

        ``route``: ``auto``, ``metered`` or ``byok:<provider>``.
        """
        fields = self._scoped(
            scope,
            account,
            byok_enabled=byok_enabled,
            active_provider=active_provider,
            read_only=read_only,
            route=route,
            actor=actor,
        )
        return await self.call(calls.SCOPES_CONFIGURE, calls.SCOPES_CONFIGURE.body(fields))

    async def configure_account(
        self,
        account: str,
        *,
        plan: str | None = None,
        byok_allowed: bool | None = None,
        mode: Mode | str | None = None,
        platform_fallback: bool | None = None,
        allow_custom_models: bool | None = None,
        actor: str | None = None,
    ) -> AccountPolicyReply:
        """Change any of the account's plan rules (``None`` leaves one as it is)."""
        body = calls.ACCOUNTS_CONFIGURE.body(
            {
                "account": account,
                "plan": plan,
                "byok_allowed": byok_allowed,
                "mode": mode,
                "platform_fallback": platform_fallback,
                "allow_custom_models": allow_custom_models,
                "actor": actor,
            }
        )
        return await self.call(calls.ACCOUNTS_CONFIGURE, body)

    async def report(self, key_id: str, status_code: int, reason: str = "") -> KeyReportAccepted:
        """Tell byok the provider answered ``status_code`` for ``key_id`` (401 may revoke it)."""
        fields = {"key_id": key_id, "status_code": status_code, "reason": reason[:1024]}
        return await self.call(calls.KEYS_REPORT, calls.KEYS_REPORT.body(fields))

    async def rotate_keys(
        self, *, cipher: bool = True, sealing: bool = False, actor: str = "operator"
    ) -> KeysRotated:
        """Operator: rotate the cipher key and rewrap every stored ciphertext (live)."""
        body = RotateKeys(cipher=cipher, sealing=sealing, actor=actor)
        reply = await self.call(calls.KEYS_ROTATE, body)
        if sealing:
            self._vault_key = None
        return reply
