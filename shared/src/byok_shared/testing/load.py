"""Mixed traffic against a running byok, every answer checked as it arrives.

- :class:`World`: what the load works on (keys at workspace scopes, credits per
  account) and the expected outcome of everything the load did.
- :class:`Load`: concurrent mixed traffic; a reply must be the right one, and the only
  acceptable failure is a clear 503 (a client timeout, no responders, or a service
  saying ``unavailable``). Anything else is recorded as *wrong* in its :class:`Tally`.

Used by the fault tests and the soak bench. The client is a ``byok_client.ByokClient``
passed in (imported for typing only: the client depends on this package, not the reverse).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import nats.errors
from nats.js import JetStreamContext

from byok_contracts import ByokError, Unavailable, subjects
from byok_contracts.v1 import UsageRecorded, usage_msg_id

from .fake_providers import FakeProviders
from .polling import eventually

if TYPE_CHECKING:
    from byok_client import ByokClient

__all__ = [
    "GRANT",
    "OP_SERVICE",
    "Load",
    "Tally",
    "World",
    "anthropic_key",
    "publish_usage",
]

GRANT = 10_000_000
START = datetime(2025, 6, 1, tzinfo=UTC)
MODELS = ("claude-sonnet-4-6", "claude-haiku-4-5")

# Which service answers each load operation (``publish`` goes to JetStream only).
OP_SERVICE = {
    "resolve": "resolver",
    "list": "key-vault",
    "report": "validator",
    "balance": "credit-ledger",
    "usage": "usage-tracker",
    "churn": "key-vault",
    "publish": "",
}


def anthropic_key(tag: str) -> str:
    """A well-formed fake Anthropic key whose secret part is unique to ``tag``."""
    return "sk-ant-api03-" + (tag + "Fx9") * 8 + "-tailAA"


@dataclass
class World:
    """Keys at ``workspace:w<j>`` for account ``acct<j>``; credits; every usage event sent."""

    keys: dict[str, str] = field(default_factory=dict)  # workspace scope -> plaintext
    key_ids: dict[str, str] = field(default_factory=dict)  # workspace scope -> key_id
    events: dict[str, UsageRecorded] = field(default_factory=dict)  # acked by JetStream
    attempted: Counter[str] = field(default_factory=Counter)  # per account, sent or sending
    churned: dict[str, str] = field(default_factory=dict)  # session scope -> key_id stored
    owners: dict[str, str] = field(default_factory=dict)  # churned session scope -> account
    unsure: set[str] = field(default_factory=set)  # session scopes whose outcome is unknown

    @property
    def accounts(self) -> list[str]:
        return [self.account_of(scope) for scope in self.keys]

    @staticmethod
    def account_of(workspace: str) -> str:
        return "acct" + workspace.rsplit("w", 1)[1]

    @classmethod
    async def seed(
        cls, client: ByokClient, providers: FakeProviders, n: int = 4, tag: str = "k"
    ) -> World:
        world = cls()
        for j in range(n):
            scope = f"workspace:w{j}"
            key = providers.add_key(anthropic_key(f"{tag}{j}"))
            reply = await client.configure(scope, key, account=world.account_of(scope))
            world.keys[scope], world.key_ids[scope] = key, reply.key_id
            account = world.account_of(scope)
            granted = await client.grant(account, GRANT, reason="monthly", idempotency_key="m1")
            assert granted.balance == GRANT
        return world

    def debited_requests(self) -> set[str]:
        return {rid for rid, e in self.events.items() if e.source == "platform"}

    def totals(self, account: str) -> tuple[int, int, int]:
        mine = [e for e in self.events.values() if e.account == account]
        return len(mine), sum(e.input_tokens for e in mine), sum(e.output_tokens for e in mine)


# --- load -------------------------------------------------------------------------------


@dataclass
class Tally:
    """Outcomes per operation, with the time of each failure."""

    ok: Counter[str] = field(default_factory=Counter)
    unavailable: Counter[str] = field(default_factory=Counter)  # "op:error"
    failures: list[tuple[float, str]] = field(default_factory=list)  # (sent at, "op:error")
    wrong: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)

    def errors_by_code(self) -> dict[str, int]:
        return dict(self.unavailable)

    def failed_since(self, since: float, op: str | None = None) -> list[str]:
        return [
            what
            for at, what in self.failures
            if at >= since and (op is None or what.startswith(op + ":"))
        ]

    def summary(self) -> dict[str, Any]:
        return {
            "requests": sum(self.ok.values()) + sum(self.unavailable.values()) + len(self.wrong),
            "ok": dict(self.ok),
            "unavailable": dict(self.unavailable),
            "wrong": len(self.wrong),
            "stale": len(self.stale),
        }


class Load:
    """Concurrent mixed traffic; every answer is checked when it arrives."""

    def __init__(
        self,
        client: ByokClient,
        js: JetStreamContext,
        world: World,
        providers: FakeProviders,
        *,
        workers: int = 6,
        ops: Iterable[str] = ("resolve", "list", "report", "balance", "usage", "publish"),
        seed: int = 1,
        pause: float = 0.0,
    ) -> None:
        self.client, self.js, self.world, self.providers = client, js, world, providers
        self.ops = list(ops)
        self.tally = Tally()
        self.rng = random.Random(seed)  # noqa: S311 - load shapes, not secrets
        self.pause = pause
        self._workers = workers
        self._tasks: list[asyncio.Task[None]] = []
        self._stop = asyncio.Event()
        self._n = 0
        self._churns = 0

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._worker(i), name=f"load-{i}") for i in range(self._workers)
        ]

    async def stop(self) -> Tally:
        self._stop.set()
        await asyncio.gather(*self._tasks)
        return self.tally

    async def until_ok(self, op: str, more: int, timeout: float) -> None:
        """Wait until ``op`` has ``more`` further successful answers."""
        target = self.tally.ok[op] + more
        for task in self._tasks:
            if task.done() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]

        async def reached() -> bool:
            return self.tally.ok[op] >= target

        await eventually(reached, timeout, f"{more} more successful {op}")

    async def _worker(self, index: int) -> None:
        while not self._stop.is_set():
            op = self.ops[(self._n + index) % len(self.ops)]
            self._n += 1
            sent = time.monotonic()
            try:
                await getattr(self, f"_{op}")()
                self.tally.ok[op] += 1
            except Unavailable as exc:
                self.tally.unavailable[f"{op}:{exc.error}"] += 1
                self.tally.failures.append((sent, f"{op}:{exc.error}"))
            except AssertionError as exc:
                self.tally.wrong.append(f"{op}: {exc}")
            except ByokError as exc:
                self.tally.wrong.append(f"{op}: unexpected {exc!r}")
            except nats.errors.Error as exc:
                # The client's own connection is reconnecting (a server restart): clear too.
                what = f"{op}:client-{type(exc).__name__}"
                self.tally.unavailable[what] += 1
                self.tally.failures.append((sent, what))
            except Exception as exc:
                self.tally.wrong.append(f"{op}: crashed {exc!r}")
            await asyncio.sleep(self.pause)

    # the operations ----------------------------------------------------------------
    def _workspace(self) -> str:
        return self.rng.choice(sorted(self.world.keys))

    async def _resolve(self) -> None:
        workspace = self._workspace()
        session = f"session:s{self.rng.randrange(50)}"
        chain: list[Any] = [session, workspace]
        route = await self.client.resolve(
            self.world.account_of(workspace), chain, provider="anthropic"
        )
        assert route.key_id == self.world.key_ids[workspace], f"{workspace} got {route.key_id}"
        assert route.api_key == self.world.keys[workspace], f"{workspace}: other key material"

    async def _list(self) -> None:
        workspace = self._workspace()
        listed = await self.client.list_keys(workspace, account=self.world.account_of(workspace))
        assert [(k.key_id, k.state) for k in listed] == [
            (self.world.key_ids[workspace], "active")
        ], f"{workspace} lists {listed}"

    async def _report(self) -> None:
        workspace = self._workspace()
        code = self.rng.choice((429, 500, 502, 503))
        accepted = await self.client.report(self.world.key_ids[workspace], code, "overloaded")
        assert accepted.outcome in ("ignored", "deduplicated"), accepted

    async def _balance(self) -> None:
        account = self.world.account_of(self._workspace())
        balance = await self.client.balance(account)
        assert 0 < balance.balance <= GRANT, f"{account}: balance {balance.balance}"

    async def _usage(self) -> None:
        account = self.world.account_of(self._workspace())
        report = await self.client.usage(account=account)
        assert report.calls <= self.world.attempted[account], (
            f"{account}: {report.calls} calls counted, {self.world.attempted[account]} sent"
        )

    async def _publish(self) -> None:
        """A runtime's ``usage.recorded``; retried with the same id until JetStream acks."""
        workspace = self._workspace()
        account = self.world.account_of(workspace)
        self._n += 1
        rid = f"req-{id(self):x}-{self._n}"
        event = UsageRecorded.model_validate(
            {
                "request_id": rid,
                "account": account,
                "chain": [{"type": "workspace", "id": workspace.split(":", 1)[1]}],
                "key_id": self.world.key_ids[workspace],
                "source": "platform" if self._n % 3 else "byok",
                "provider": "anthropic",
                "model": MODELS[self._n % 2],
                "input_tokens": self.rng.randint(1, 4000),
                "output_tokens": self.rng.randint(1, 1000),
                "occurred_at": START + timedelta(seconds=self._n),
            }
        )
        self.world.attempted[account] += 1
        await publish_usage(self.js, event)
        if self._n % 7 == 0:  # a runtime retry inside the duplicate window
            await publish_usage(self.js, event)
        if self._n % 11 == 0:  # the same request_id again, as if beyond the window
            await publish_usage(self.js, event, msg_id=f"again-{rid}")
        self.world.events[rid] = event

    async def _churn(self) -> None:
        """Configure a key at a new session scope, resolve it, remove it, resolve again.

        After the remove replied, the session key must never be served again: the
        workspace key answers. A 503 on configure or remove leaves the outcome unknown;
        that scope is then only checked at the end, against ``keys.list``.
        """
        self._churns += 1
        workspace = self._workspace()
        account = self.world.account_of(workspace)
        session = f"session:c{self._churns}-{id(self) % 997}"
        key = self.providers.add_key(anthropic_key(f"churn{self._churns}x{id(self) % 997}"))
        chain: list[Any] = [session, workspace]
        self.world.unsure.add(session)
        self.world.owners[session] = account
        configured = await self.client.configure(session, key, account=account)
        self.world.churned[session] = configured.key_id
        self.world.unsure.discard(session)
        # A new key reaches the caches asynchronously (only removals wait for every
        # replica); until then the workspace key is the right answer.
        deadline = time.monotonic() + 5
        while True:
            route = await self.client.resolve(account, chain, provider="anthropic")
            if route.key_id == configured.key_id:
                break
            assert route.key_id == self.world.key_ids[workspace], f"{session}: {route.key_id}"
            assert time.monotonic() < deadline, f"{session}: new key never served"
            await asyncio.sleep(0.01)
        self.world.unsure.add(session)
        await self.client.remove(session, "anthropic", account=account)
        del self.world.churned[session]
        self.world.unsure.discard(session)
        after = time.monotonic()
        route = await self.client.resolve(account, chain, provider="anthropic")
        if route.key_id == configured.key_id:
            self.tally.stale.append(f"{session}: {route.key_id} served after removal")
        assert route.key_id == self.world.key_ids[workspace], (
            f"{session}: {route.key_id} served {time.monotonic() - after:.3f}s after removal"
        )


async def publish_usage(
    js: JetStreamContext, event: UsageRecorded, msg_id: str | None = None, timeout: float = 60.0
) -> None:
    """Publish like a runtime: retry (same ``Nats-Msg-Id``) until JetStream acks."""
    body = event.model_dump_json(exclude_none=True).encode()
    headers = {"Nats-Msg-Id": msg_id or usage_msg_id(event.account, event.request_id)}
    deadline = time.monotonic() + timeout
    while True:
        try:
            await js.publish(subjects.USAGE_RECORDED, body, headers=headers, timeout=1.0)
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)
