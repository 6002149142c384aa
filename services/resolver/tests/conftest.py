"""Resolver test helpers: a stand-in for key-vault's writes, and a runtime that resolves."""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from faststream import FastStream
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from byok_contracts import Keypair, subjects
from byok_contracts.v1 import (
    AccountPolicy,
    CreditsChanged,
    CreditState,
    KeyChanged,
    KeyRecord,
    KeyState,
    Scope,
    ScopeChanged,
    ScopeSettings,
    utcnow,
)
from byok_resolver.adapters.memory import InMemoryKeySource
from byok_resolver.app import create_app
from byok_resolver.config import ResolverConfig
from byok_shared import ByokSettings
from byok_shared.freshness import FreshnessBarrier
from byok_shared.jetstream import (
    BUCKET_ACCOUNTS,
    BUCKET_CREDITS,
    BUCKET_KEYS,
    BUCKET_SCOPES,
    ensure_jetstream,
)

_ids = itertools.count(1)

# The helpers next to these tests (decision_world), importable in importlib mode.
sys.path.insert(0, str(Path(__file__).parent))


@dataclass
class Backoffice:
    """Writes state the way key-vault and the ledger do: KV first, then event (+ barrier)."""

    nc: NatsClient
    js: JetStreamContext
    source: InMemoryKeySource
    barrier: FreshnessBarrier = field(init=False)

    def __post_init__(self) -> None:
        self.barrier = FreshnessBarrier(self.nc, self.js, timeout=3.0)

    async def setup(self) -> Backoffice:
        await ensure_jetstream(self.js)
        return self

    async def key(
        self,
        scope: str,
        provider: str,
        secret: str | None = None,
        *,
        model: str = "",
        state: KeyState = KeyState.ACTIVE,
        event: bool = True,
        account: str = "acme",
    ) -> KeyRecord:
        where = Scope.parse(scope)
        owner = None if where.type.value == "platform" else account
        key_id = f"k{next(_ids)}{where.id}{provider}"
        now = utcnow()
        record = KeyRecord(
            key_id=key_id,
            scope=where,
            provider=provider,  # type: ignore[arg-type]
            hint="sk-...abcd",
            fingerprint="f" * 16,
            model=model,
            state=state,
            ciphertext="not-a-real-ciphertext",
            created_at=now,
            updated_at=now,
            account=owner,
        )
        secret = secret or f"sk-test-{key_id}"
        self.source.add(key_id, provider, secret.encode())
        kv = await self.js.key_value(BUCKET_KEYS)
        revision = await kv.put(f"{where.key}.{provider}", record.model_dump_json().encode())
        if event:
            changed = KeyChanged(
                event="configured",
                key_id=key_id,
                scope=where,
                provider=provider,  # type: ignore[arg-type]
                state=state,
                model=model,
                revision=revision,
                account=owner,
            )
            await self.js.publish(
                subjects.EVENTS_KEYS_CONFIGURED, changed.model_dump_json().encode()
            )
        return record

    async def remove(self, record: KeyRecord) -> None:
        """Like ``keys.remove``: delete, publish, wait for every replica, then 'reply'."""
        kv = await self.js.key_value(BUCKET_KEYS)
        await kv.delete(f"{record.scope.key}.{record.provider}")
        event = KeyChanged(
            event="removed", key_id=record.key_id, scope=record.scope, provider=record.provider
        )
        await self.js.publish(subjects.EVENTS_KEYS_REMOVED, event.model_dump_json().encode())
        result = await self.barrier.confirm(subjects.EVENTS_KEYS_REMOVED, event)
        assert result.complete, result

    async def disable(self, record: KeyRecord) -> None:
        kv = await self.js.key_value(BUCKET_KEYS)
        disabled = record.model_copy(update={"state": KeyState.DISABLED})
        revision = await kv.put(
            f"{record.scope.key}.{record.provider}", disabled.model_dump_json().encode()
        )
        event = KeyChanged(
            event="disabled",
            key_id=record.key_id,
            scope=record.scope,
            provider=record.provider,
            state=KeyState.DISABLED,
            revision=revision,
        )
        await self.js.publish(subjects.EVENTS_KEYS_DISABLED, event.model_dump_json().encode())
        result = await self.barrier.confirm(subjects.EVENTS_KEYS_DISABLED, event)
        assert result.complete, result

    async def scope(self, scope: str, **values: Any) -> None:
        settings = ScopeSettings(scope=Scope.parse(scope), **values)
        kv = await self.js.key_value(BUCKET_SCOPES)
        revision = await kv.put(settings.scope.key, settings.model_dump_json().encode())
        event = ScopeChanged(settings=settings, revision=revision)
        await self.barrier.confirm(subjects.EVENTS_SCOPES_CHANGED, event)

    async def account(self, account: str, **values: Any) -> None:
        policy = AccountPolicy(account=account, **values)
        kv = await self.js.key_value(BUCKET_ACCOUNTS)
        await kv.put(account, policy.model_dump_json().encode())

    async def credits(self, account: str, balance: int, *, event: bool = False) -> None:
        """The ledger's view: the KV record, and optionally the exhausted/restored event."""
        now = utcnow()
        if event:
            kind = "exhausted" if balance <= 0 else "restored"
            changed = CreditsChanged(event=kind, account=account, balance=balance, occurred_at=now)
            await self.js.publish(
                f"{subjects.EVENTS_PREFIX}.credits.{kind}", changed.model_dump_json().encode()
            )
        else:
            kv = await self.js.key_value(BUCKET_CREDITS)
            state = CreditState(account=account, balance=balance, updated_at=now)
            await kv.put(account, state.model_dump_json().encode())


@dataclass
class Runtime:
    """A chat runtime: its own keypair, resolves over NATS, opens what it gets."""

    nc: NatsClient
    keypair: Keypair = field(default_factory=Keypair.generate)

    def body(self, *chain: str, account: str = "acme", **fields: Any) -> bytes:
        body: dict[str, Any] = {
            "account": account,
            "chain": [{"type": s.split(":")[0], "id": s.split(":")[1]} for s in chain],
            "recipient_key": self.keypair.public_b64,
        }
        body.update(fields)
        return json.dumps(body).encode()

    async def raw(self, payload: bytes, timeout: float = 10.0) -> dict[str, Any]:
        msg = await self.nc.request(subjects.RESOLVE, payload, timeout=timeout)
        data: dict[str, Any] = json.loads(msg.data)
        return data

    async def resolve(self, *chain: str, **fields: Any) -> dict[str, Any]:
        data = await self.raw(self.body(*chain, **fields))
        if data.get("status") == "resolved":
            data["secret"] = self.keypair.open(data["sealed_key"], subjects.RESOLVE).decode()
        return data

    async def until(
        self, check: Callable[[dict[str, Any]], bool], *chain: str, timeout: float = 30.0
    ) -> dict[str, Any]:
        """Resolve until ``check`` holds (for eventually-applied state such as KV watches)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            data = await self.resolve(*chain)
            if check(data) or asyncio.get_running_loop().time() > deadline:
                return data
            await asyncio.sleep(0.02)


@pytest.fixture
def key_source() -> InMemoryKeySource:
    return InMemoryKeySource()


@pytest.fixture
async def backoffice(
    nc: NatsClient, js: JetStreamContext, key_source: InMemoryKeySource
) -> Backoffice:
    return await Backoffice(nc, js, key_source).setup()


@pytest.fixture
def runtime(nc: NatsClient) -> Runtime:
    return Runtime(nc)


Replicas = Callable[..., Any]


@pytest.fixture
async def replicas(
    byok_settings: ByokSettings, key_source: InMemoryKeySource
) -> AsyncIterator[Callable[[int], Any]]:
    """``await replicas(n)`` starts n resolver replicas (stopped at the end of the test)."""
    async with AsyncExitStack() as stack:

        async def start(n: int = 1, **config: Any) -> list[FastStream]:
            apps = []
            for i in range(n):
                cfg = ResolverConfig(replica_id=f"r{next(_ids)}x{i}", **config)
                app = create_app(byok_settings, config=cfg, key_source=key_source)
                await app.start()
                stack.push_async_callback(app.stop)
                apps.append(app)
            return apps

        yield start
