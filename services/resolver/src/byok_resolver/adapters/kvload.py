"""Loading a scope's or an account's state on first use: a few O(1) KV reads.

A scope is its owner (``byok-owners``), its settings (``byok-scopes``) and one
key record per provider (``byok-keys``); an account is its policy (``byok-accounts``) and its credit
state (``byok-credits``). Reads go to the stream leader (not a direct get,
which a lagging follower may answer), so a load that starts after a change
was written sees it. Concurrent requests for the same cold scope share one
load. The race with the feed is settled in :mod:`byok_resolver.cache`: the
scope is present (loading) before the first read is sent, so every change
after that point reaches it too, and revisions decide.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from pydantic import BaseModel, ValidationError

from byok_contracts.v1 import AccountPolicy, CreditState, KeyRecord, Resolve, Scope, ScopeSettings
from byok_contracts.v1.buckets import ACCOUNTS, CREDITS, KEYS, OWNERS, SCOPES, key_slot
from byok_resolver.cache import AccountLoad, ResolverCache, ScopeLoad
from byok_resolver.domain import PROVIDER_ORDER, KeyEntry

__all__ = ["KvStateLoader", "entry_of", "read_kv"]

log = logging.getLogger(__name__)

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)
_DELETES = ("DEL", "PURGE")
_OP = "KV-Operation"


def entry_of(record: KeyRecord, revision: int) -> KeyEntry:
    return KeyEntry(
        record.key_id,
        record.scope,
        record.provider,
        record.model,
        record.state,
        revision,
        record.account,
    )


async def read_kv(js: JetStreamContext, bucket: str, key: str) -> tuple[int, bytes | None]:
    """The latest revision of ``key`` and its value (None: deleted, purged or never written).

    A key never written (or whose marker is gone) has revision 0.
    """
    try:
        msg = await js.get_msg(f"KV_{bucket}", subject=f"$KV.{bucket}.{key}", direct=False)
    except NotFoundError:
        return 0, None
    revision = int(msg.seq or 0)
    if (msg.headers or {}).get(_OP) in _DELETES or not msg.data:
        return revision, None
    return revision, msg.data


class KvStateLoader:
    """The :class:`~byok_resolver.ports.StateLoader` over JetStream KV."""

    def __init__(self, js: JetStreamContext, cache: ResolverCache) -> None:
        self.js = js
        self.cache = cache
        self._inflight: dict[str, asyncio.Future[None]] = {}
        self.loads = 0

    async def load(self, request: Resolve) -> None:
        scopes, accounts = self.cache.missing(request)
        waits = [self._once(f"s:{s.key}", self._scope, s) for s in scopes]
        waits += [self._once(f"a:{a}", self._account, a) for a in accounts]
        await asyncio.gather(*waits)

    async def preload(self, scope: Scope) -> None:
        """Load one scope now (the platform scope, at start)."""
        await self._once(f"s:{scope.key}", self._scope, scope)

    def _once(self, name: str, load: Callable[[T], Awaitable[None]], what: T) -> Awaitable[None]:
        running = self._inflight.get(name)
        if running is None:
            running = asyncio.ensure_future(load(what))
            self._inflight[name] = running
            running.add_done_callback(lambda _: self._inflight.pop(name, None))
        return asyncio.shield(running)

    async def _scope(self, scope: Scope) -> None:
        token: ScopeLoad | None = self.cache.begin_scope(scope)
        if token is None:
            return
        self.loads += 1
        try:
            reads = await asyncio.gather(
                read_kv(self.js, OWNERS.name, scope.key),
                read_kv(self.js, SCOPES.name, scope.key),
                *(read_kv(self.js, KEYS.name, key_slot(scope, p)) for p in PROVIDER_ORDER),
            )
        except BaseException:
            self.cache.abort_scope(token)
            raise
        (_, owner_raw), (settings_rev, settings_raw), *slots = reads
        settings = _parsed(ScopeSettings, settings_raw, SCOPES.name)
        keys: list[tuple[str, int, KeyEntry | None]] = []
        for provider, (revision, raw) in zip(PROVIDER_ORDER, slots, strict=True):
            record = _parsed(KeyRecord, raw, KEYS.name)
            keys.append((provider, revision, entry_of(record, revision) if record else None))
        owner = owner_raw.decode() if owner_raw else None
        self.cache.finish_scope(token, (settings_rev, settings), keys, owner)

    async def _account(self, account: str) -> None:
        token: AccountLoad | None = self.cache.begin_account(account)
        if token is None:
            return
        try:
            (policy_rev, policy_raw), (_, credit_raw) = await asyncio.gather(
                read_kv(self.js, ACCOUNTS.name, account),
                read_kv(self.js, CREDITS.name, account),
            )
        except BaseException:
            self.cache.abort_account(token)
            raise
        policy = _parsed(AccountPolicy, policy_raw, ACCOUNTS.name)
        state = _parsed(CreditState, credit_raw, CREDITS.name)
        if state is not None:
            balance: tuple[float, int | None] = (state.updated_at.timestamp(), state.balance)
        else:
            balance = (float("-inf"), None)
        self.cache.finish_account(token, (policy_rev, policy), balance)


def _parsed(model: type[M], raw: bytes | None, bucket: str) -> M | None:
    """A record we cannot read is not served; the rest of the scope still is."""
    if not raw:
        return None
    try:
        return model.model_validate_json(raw)
    except (ValidationError, ValueError):
        log.warning("unreadable KV entry", extra={"bucket": bucket})
        return None
