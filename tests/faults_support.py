"""Machinery shared by the fault suite (``tests/test_faults.py``) and the soak (``bench/soak.py``).

- :class:`Cluster`: a real nats-server and every service as a real process
  (``python -m byok_<service>``), optionally several replicas each, any of them
  killable with SIGKILL and restartable; the server restartable on its store dir.
- :class:`World`: what the load works on (keys at workspace scopes, credits per
  account) and the expected outcome of everything the load did.
- :class:`Load`: concurrent mixed traffic whose every answer is checked as it
  arrives: a reply must be the right one; the only acceptable failure is a clear
  503 (a client timeout, no responders, or a service saying ``unavailable``).
  Anything else is recorded as *wrong*.
- :func:`check_state`: after the faults, every key is still resolvable, every
  balance equals the sum of its journal entries, each platform request debited
  exactly once, usage totals exact.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import nats
import nats.errors
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig

from byok_client import ByokClient
from byok_contracts import ByokError, Unavailable, subjects
from byok_contracts.v1 import UsageRecorded, usage_msg_id
from byok_contracts.v1.ledger import LedgerEntry
from byok_shared.jetstream import STREAM_LEDGER, STREAM_USAGE
from byok_shared.natsserver import NatsServer
from byok_shared.provision import provision_jetstream
from byok_shared.testing.fake_providers import FakeProviders

__all__ = [
    "OP_SERVICE",
    "SERVICES",
    "Cluster",
    "Load",
    "ServiceProcess",
    "Tally",
    "World",
    "check_state",
    "eventually",
]

SERVICES = subjects.SERVICES
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


async def eventually(
    check: Callable[[], Awaitable[bool]], timeout: float, what: str = "condition"
) -> None:
    """Poll ``check`` until it holds; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not met within {timeout:.0f}s")
        await asyncio.sleep(0.05)


def anthropic_key(tag: str) -> str:
    """A well-formed fake Anthropic key whose secret part is unique to ``tag``."""
    return "sk-ant-api03-" + (tag + "Fx9") * 8 + "-tailAA"


# --- processes ----------------------------------------------------------------------


class ServiceProcess:
    """One service replica as a real process, killable with SIGKILL."""

    def __init__(self, service: str, index: int, url: str, data: Path, env: dict[str, str]):
        self.service, self.index, self.url, self.data = service, index, url, data
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = data / f"{service}-{index}.log"
        self.starts = 0

    @property
    def replica_id(self) -> str:
        """The resolver replica id of the current (or last) start: new per start."""
        return f"resolver-{self.index}-{self.starts}"

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("BYOK_", "VAULT_"))}
        env.update(
            BYOK_NATS_URL=self.url,
            BYOK_DATA_DIR=str(self.data),
            BYOK_LOG_FORMAT="text",
            # a killed ledger/tracker's unacked messages come back quickly
            BYOK_LEDGER_ACK_WAIT="2",
            BYOK_USAGE_TRACKER_ACK_WAIT="2",
            BYOK_USAGE_TRACKER_REPLICA=f"r{self.index}",
            BYOK_LEDGER_FETCH_TIMEOUT="0.2",
            BYOK_USAGE_TRACKER_FETCH_TIMEOUT="0.2",
        )
        env.update(self.env)
        self.starts += 1
        env["BYOK_RESOLVER_REPLICA_ID"] = self.replica_id
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "byok_" + self.service.replace("-", "_")],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def kill9(self) -> None:
        assert self.proc is not None
        assert self.alive, f"{self.service}-{self.index} is not running"
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is None or not self.alive:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


async def responders(nc: NatsClient, service: str, at_least: int = 1, window: float = 0.3) -> int:
    """How many replicas of ``service`` answer health (not queued); stops early at ``at_least``."""
    replies: list[Msg] = []
    enough = asyncio.Event()

    async def collect(msg: Msg) -> None:
        # The server answers "no responders" on the inbox too: count real replies only.
        if msg.data and json.loads(msg.data).get("status") == "ok":
            replies.append(msg)
            if len(replies) >= at_least:
                enough.set()

    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox, cb=collect)
    try:
        await nc.publish(subjects.health(service), b"{}", reply=inbox)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(enough.wait(), window)
    finally:
        await sub.unsubscribe()
    return len(replies)


class Cluster:
    """A nats-server plus ``replicas[service]`` processes of each service."""

    def __init__(
        self,
        base: Path,
        providers: FakeProviders,
        *,
        replicas: dict[str, int] | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        base.mkdir(parents=True, exist_ok=True)
        self.base = base
        self.server = NatsServer(store_dir=base / "jetstream", log_file=base / "nats.log")
        counts = {name: 1 for name in SERVICES} | (replicas or {})
        common = providers.env() | {"BYOK_VALIDATOR_REVALIDATE_INTERVAL": "0"} | (env or {})
        self.procs = {
            name: [
                ServiceProcess(name, i, self.server.url, base, common) for i in range(counts[name])
            ]
            for name in SERVICES
            if counts[name] > 0
        }
        self._nc: NatsClient | None = None

    @property
    def url(self) -> str:
        return self.server.url

    async def nc(self) -> NatsClient:
        """The cluster's own probe connection (reconnects across server restarts)."""
        if self._nc is None:
            self._nc = await nats.connect(
                self.url, max_reconnect_attempts=-1, reconnect_time_wait=0.1
            )
        return self._nc

    async def start(self, timeout: float = 40.0) -> None:
        self.server.start()
        # the operator's provisioning step, as make run does before any service starts
        nc = await nats.connect(self.url)
        try:
            await provision_jetstream(nc.jetstream())
        finally:
            await nc.close()
        # Further key-vault replicas once the first created the keyring and sealing keys.
        for procs in self.procs.values():
            procs[0].start()
        await self.wait_replicas("key-vault", 1, timeout)
        for procs in self.procs.values():
            for proc in procs[1:]:
                proc.start()
        for name, procs in self.procs.items():
            await self.wait_replicas(name, len(procs), timeout)

    async def wait_replicas(self, service: str, count: int, timeout: float = 30.0) -> float:
        """Wait until ``count`` replicas of ``service`` answer health; returns the seconds taken."""
        started = time.monotonic()
        nc = await self.nc()

        async def up() -> bool:
            dead = [p for p in self.procs[service] if p.proc is not None and not p.alive]
            assert len(self.procs[service]) - len(dead) >= count, (
                f"{service} exited: see {[str(p.log) for p in dead]}"
            )
            try:
                return await responders(nc, service, count) >= count
            except Exception:
                return False

        await eventually(up, timeout, f"{count} replica(s) of {service} healthy")
        return time.monotonic() - started

    def kill9(self, service: str, index: int = 0) -> None:
        self.procs[service][index].kill9()

    async def restart(self, service: str, index: int = 0, timeout: float = 30.0) -> float:
        """Start a killed replica again; returns seconds until every replica answers."""
        proc = self.procs[service][index]
        assert not proc.alive
        started = time.monotonic()
        proc.start()
        alive = sum(p.alive for p in self.procs[service])
        await self.wait_replicas(service, alive, timeout)
        return time.monotonic() - started

    async def wait_all_healthy(self, timeout: float = 30.0) -> None:
        for name, procs in self.procs.items():
            await self.wait_replicas(name, sum(p.alive for p in procs), timeout)

    async def close(self) -> None:
        if self._nc is not None:
            with contextlib.suppress(Exception):
                await self._nc.close()
        every = [proc for procs in self.procs.values() for proc in procs]
        for proc in every:
            if proc.alive:
                assert proc.proc is not None
                proc.proc.terminate()
        for proc in every:
            proc.stop()  # waits; kills what did not stop in time
        self.server.stop()

    def logs(self) -> str:
        """Tail of every process log, for assertion messages."""
        out = []
        for procs in self.procs.values():
            for proc in procs:
                if proc.log.exists():
                    tail = proc.log.read_text(errors="replace").splitlines()[-15:]
                    out.append(f"--- {proc.log.name}\n" + "\n".join(tail))
        return "\n".join(out)


# --- the world the load works on ------------------------------------------------------


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
        self.rng = random.Random(seed)
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
        route = await self.client.resolve(
            self.world.account_of(workspace), [session, workspace], provider="anthropic"
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
        chain = [session, workspace]
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


# --- end-state checks ---------------------------------------------------------------------


async def journal(js: JetStreamContext) -> list[LedgerEntry]:
    """Every ledger journal entry, read straight from the stream."""
    info = await js.stream_info(STREAM_LEDGER)
    if info.state.messages == 0:
        return []
    sub = await js.pull_subscribe(
        f"{subjects.LEDGER_JOURNAL_PREFIX}.>",
        stream=STREAM_LEDGER,
        config=ConsumerConfig(ack_policy=AckPolicy.NONE),
    )
    out: list[LedgerEntry] = []  # one per debit: a batched debit entry counts as its items
    seen = 0
    try:
        while seen < info.state.messages:
            batch = await sub.fetch(1000, timeout=5)
            seen += len(batch)
            out += [d for m in batch for d in LedgerEntry.model_validate_json(m.data).debits()]
    finally:
        await sub.unsubscribe()
    return out


async def settled(js: JetStreamContext, durables: Iterable[str]) -> bool:
    """Every consumer of ``usage.recorded`` has acked everything in the stream."""
    for durable in durables:
        try:
            info = await js.consumer_info(STREAM_USAGE, durable, timeout=2)
        except Exception:
            return False
        if info.num_pending or info.num_ack_pending:
            return False
    return True


async def retrying(call: Callable[[], Awaitable[Any]], timeout: float = 20.0) -> Any:
    """``call()`` until it answers other than 503 (services may still be reconnecting)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await call()
        except Unavailable:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


async def check_state(
    client: ByokClient,
    js: JetStreamContext,
    world: World,
    *,
    tracker_durables: Iterable[str] = ("usage-tracker-r0",),
    timeout: float = 30.0,
) -> dict[str, Any]:
    """The end state after the faults; returns the figures it checked."""
    # Keys: every workspace key is listed, active, and resolves to its own material.
    for workspace, key_id in world.key_ids.items():
        listed = await retrying(
            lambda w=workspace: client.list_keys(w, account=world.account_of(w))
        )  # type: ignore[misc]
        assert [(k.key_id, k.state) for k in listed] == [(key_id, "active")], (workspace, listed)
        route = await retrying(
            lambda w=workspace: client.resolve(  # type: ignore[misc]
                world.account_of(w), [f"session:final-{w[-1]}", w], provider="anthropic"
            )
        )
        assert (route.key_id, route.api_key) == (key_id, world.keys[workspace])
    # Churned session keys: exactly what the replies said, or (unsure) whatever is listed.
    for session in set(world.churned) | world.unsure:
        listed = await retrying(lambda s=session: client.list_keys(s, account=world.owners[s]))  # type: ignore[misc]
        ids = [k.key_id for k in listed]
        if session in world.unsure:  # a 503 on configure or remove: either outcome is fine
            assert len(ids) <= 1, (session, listed)
            assert not ids or session not in world.churned or ids == [world.churned[session]]
        else:
            assert ids == [world.churned[session]], (session, listed)
    # Ledger and usage: wait until both consumers acked the whole stream.
    durables = ["credit-ledger", *tracker_durables]

    async def caught_up() -> bool:
        return await settled(js, durables)

    await eventually(caught_up, timeout, f"consumers {durables} caught up")
    entries = await journal(js)
    debits = Counter(e.request_id for e in entries if e.kind == "debit")
    expected = world.debited_requests()
    lost = expected - set(debits)
    extra = set(debits) - expected
    doubled = {rid: n for rid, n in debits.items() if n > 1}
    assert not lost, f"{len(lost)} lost debits, e.g. {sorted(lost)[:3]}"
    assert not extra, f"{len(extra)} debits for requests never sent as platform usage"
    assert not doubled, f"double debits: {doubled}"
    verification = await retrying(client.verify_ledger)
    assert verification.consistent, verification.differences
    for account in sorted(set(world.accounts)):
        balance = await retrying(lambda a=account: client.balance(a))  # type: ignore[misc]
        mine = sum(e.amount for e in entries if e.account == account)
        assert balance.balance == mine, (account, balance.balance, mine)
        report = await retrying(lambda a=account: client.usage(account=a))  # type: ignore[misc]
        assert (report.calls, report.input_tokens, report.output_tokens) == world.totals(account)
    return {
        "usage_events": len(world.events),
        "debits": sum(debits.values()),
        "lost_debits": len(lost),
        "double_debits": sum(n - 1 for n in doubled.values()),
        "journal_entries": len(entries),
        "balance_equals_journal": True,
        "churned_keys_left": len(world.churned),
    }
