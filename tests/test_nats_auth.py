"""NATS authorization: the generated config, enforced by a real nats-server.

The table in ``byok_shared.natsauth`` is the one source. These tests show that
the server enforces exactly that table (for every role, every byok subject and
the JetStream/KV subjects a role could abuse) and that each role can still do
its job. That the table denies what each role must never do, without a server:
``shared/tests/test_shared_natsauth.py``.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from pydantic import SecretStr

from byok_contracts import subjects
from byok_contracts.v1 import HealthRequest, KeyChanged, Scope
from byok_shared import Service
from byok_shared.freshness import FreshnessBarrier, ReplicaPresence
from byok_shared.jetstream import (
    BUCKET_ACCOUNTS,
    BUCKET_KEYS,
    BUCKET_SEALING,
    STREAM_EVENTS,
    STREAM_USAGE,
)
from byok_shared.jetstream import SERVICE_BUCKETS as _SERVICE_BUCKETS
from byok_shared.natsauth import (
    CLIENT_ROLES,
    ROLES,
    SERVICE_BUCKETS,
    allows_publish,
    allows_subscribe,
    inbox_prefix,
)
from byok_shared.natsconfig import render_config, service_env
from byok_shared.natsserver import NatsServer
from byok_shared.provision import provision_blocking, provision_jetstream, verify_jetstream
from byok_shared.testing.apps import running, settings_for
from byok_shared.testing.natsprobes import PUBLISH_PROBES, SUBSCRIBE_PROBES

PASSWORDS = {name: f"pw-{name}" for name in ROLES}
SERVICE_ROLES = tuple(name for name in ROLES if name not in CLIENT_ROLES)


# --- a real server ------------------------------------------------------------


def _login(role: str) -> dict[str, str]:
    return {"user": role, "password": PASSWORDS[role], "inbox_prefix": inbox_prefix(role)}


def _start(base: Path) -> NatsServer:
    config = base / "auth.conf"
    config.write_text(render_config(PASSWORDS))
    return NatsServer(
        store_dir=base / "jetstream", config_file=config, log_file=base / "nats.log"
    ).start()


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    server = _start(tmp_path_factory.mktemp("nats-auth"))
    yield server
    server.stop()


@pytest.fixture
def fresh_auth_server(tmp_path: Path) -> Iterator[NatsServer]:
    """A server of its own, provisioned by the operator, for tests that run the services."""
    server = _start(tmp_path)
    provision_blocking(server.url, **_login("operator"))
    yield server
    server.stop()


class Conn:
    """A connection as one role that records the server's permission violations."""

    def __init__(self, role: str) -> None:
        self.role = role
        self.errors: list[str] = []
        self.nc = NatsClient()
        self._reported = asyncio.Event()

    async def _on_error(self, error: Exception) -> None:
        self.errors.append(str(error))
        self._reported.set()

    async def settle(self, expected: int, timeout: float = 3.0) -> None:
        """Wait for ``expected`` violations (nats-py reports them after the flush returns)."""
        await self.nc.flush()
        async with asyncio.timeout(timeout):
            while len(self.errors) < expected:
                self._reported.clear()
                await self._reported.wait()
        await asyncio.sleep(0.1)  # and a moment for any unexpected one

    def denied(self, kind: str, subject: str) -> bool:
        # nats-py lowercases the server's -ERR line.
        needle = f'permissions violation for {kind} to "{subject}"'.lower()
        return any(needle in e.lower() for e in self.errors)


async def ask(conn: Conn, subject: str, data: bytes = b"{}") -> Msg:
    """A request; nats-server may briefly answer "no responders" right after a SUB
    from another connection (seen with and without authorization), so ask again."""
    for _ in range(20):
        try:
            return await conn.nc.request(subject, data, timeout=2)
        except NoRespondersError:
            await asyncio.sleep(0.05)
    raise AssertionError(f"nobody answers {subject}")


@asynccontextmanager
async def connected(server: NatsServer, role: str) -> AsyncIterator[Conn]:
    conn = Conn(role)
    await conn.nc.connect(
        server.url,
        user=role,
        password=PASSWORDS[role],
        inbox_prefix=inbox_prefix(role),
        error_cb=conn._on_error,
        max_reconnect_attempts=0,
    )
    try:
        yield conn
    finally:
        await conn.nc.close()


@pytest.fixture
async def bootstrapped(auth_server: NatsServer) -> NatsServer:
    """Streams and buckets exist (provisioned by the operator, as make run does)."""
    async with connected(auth_server, "operator") as operator:
        await provision_jetstream(operator.nc.jetstream())
    assert operator.errors == []
    return auth_server


async def test_unknown_users_and_wrong_passwords_are_refused(auth_server: NatsServer) -> None:
    for options in ({}, {"user": "runtime", "password": "wrong"}, {"user": "root", "password": ""}):
        with pytest.raises(Exception, match=r"[Aa]uthorization"):
            await nats.connect(
                auth_server.url, max_reconnect_attempts=0, allow_reconnect=False, **options
            )


@pytest.mark.parametrize("role", list(ROLES))
async def test_server_enforces_exactly_the_table(auth_server: NatsServer, role: str) -> None:
    async with connected(auth_server, role) as conn:
        for subject in PUBLISH_PROBES:
            await conn.nc.publish(subject, b"{}")
        for subject in SUBSCRIBE_PROBES:
            await conn.nc.subscribe(subject)
        denials = sum(not allows_publish(ROLES[role], s) for s in PUBLISH_PROBES)
        denials += sum(not allows_subscribe(ROLES[role], s) for s in SUBSCRIBE_PROBES)
        await conn.settle(denials)
        for subject in PUBLISH_PROBES:
            expected = allows_publish(ROLES[role], subject)
            assert conn.denied("publish", subject) is not expected, (role, "publish", subject)
        for subject in SUBSCRIBE_PROBES:
            expected = allows_subscribe(ROLES[role], subject)
            assert conn.denied("subscription", subject) is not expected, (role, "sub", subject)


async def test_runtime_resolves_reports_and_publishes_usage(bootstrapped: NatsServer) -> None:
    async with (
        connected(bootstrapped, "resolver") as resolver,
        connected(bootstrapped, "validator") as validator,
        connected(bootstrapped, "runtime") as runtime,
    ):

        async def answer(msg: Msg) -> None:
            await msg.respond(b'{"status": "resolved"}')

        await resolver.nc.subscribe(subjects.RESOLVE, queue="byok-resolver", cb=answer)
        await validator.nc.subscribe(subjects.KEYS_REPORT, queue="byok-validator", cb=answer)
        await resolver.nc.flush()
        await validator.nc.flush()
        reply = await ask(runtime, subjects.RESOLVE)
        assert reply.subject.startswith("_INBOX_runtime.")
        assert json.loads(reply.data) == {"status": "resolved"}
        await ask(runtime, subjects.KEYS_REPORT)
        ack = await runtime.nc.jetstream().publish(
            subjects.USAGE_RECORDED, b"{}", headers={"Nats-Msg-Id": "req-1"}
        )
        assert ack.stream == STREAM_USAGE
        # ... and cannot read anything behind the services.
        with pytest.raises(NatsTimeout):
            await runtime.nc.request(f"$JS.API.STREAM.INFO.KV_{BUCKET_KEYS}", b"", timeout=0.3)
        await runtime.settle(1)
        assert runtime.denied("publish", f"$JS.API.STREAM.INFO.KV_{BUCKET_KEYS}")
        assert not [e for e in resolver.errors + validator.errors if "iolation" in e]


async def test_backend_configures_and_follows_outcome_events(bootstrapped: NatsServer) -> None:
    async with (
        connected(bootstrapped, "key-vault") as vault,
        connected(bootstrapped, "backend") as backend,
    ):
        outcomes: asyncio.Queue[Msg] = asyncio.Queue()
        await backend.nc.subscribe(subjects.EVENTS_KEYS_CONFIGURED, cb=outcomes.put)
        await backend.nc.subscribe(subjects.EVENTS_KEYS_REJECTED, cb=outcomes.put)
        await backend.nc.flush()
        js = vault.nc.jetstream()

        async def configure(msg: Msg) -> None:
            await js.publish(subjects.EVENTS_KEYS_CONFIGURED, msg.data)
            if msg.reply:
                await msg.respond(b'{"status": "configured"}')

        await vault.nc.subscribe(subjects.KEYS_CONFIGURE, queue="byok-key-vault", cb=configure)
        await vault.nc.flush()
        reply = await ask(backend, subjects.KEYS_CONFIGURE, b'{"request_id": "a"}')
        assert json.loads(reply.data) == {"status": "configured"}
        await backend.nc.publish(subjects.KEYS_CONFIGURE, b'{"request_id": "b"}')  # fire and forget
        seen = {json.loads((await asyncio.wait_for(outcomes.get(), 2)).data)["request_id"]}
        seen.add(json.loads((await asyncio.wait_for(outcomes.get(), 2)).data)["request_id"])
        assert seen == {"a", "b"}
        assert not [e for e in vault.errors + backend.errors if "iolation" in e]


async def test_every_service_bootstraps_and_uses_its_jetstream(bootstrapped: NatsServer) -> None:
    async with (
        connected(bootstrapped, "key-vault") as vault,
        connected(bootstrapped, "resolver") as resolver,
        connected(bootstrapped, "validator") as validator,
        connected(bootstrapped, "credit-ledger") as ledger,
        connected(bootstrapped, "usage-tracker") as tracker,
        connected(bootstrapped, "runtime") as runtime,
    ):
        for conn in (vault, resolver, validator, ledger, tracker):
            own = _SERVICE_BUCKETS.get(conn.role, ())
            await verify_jetstream(conn.nc.jetstream(), buckets=own)
        vault_js = vault.nc.jetstream()
        keys = await vault_js.key_value(BUCKET_KEYS)
        await keys.put("workspace.acme.anthropic", b'{"state": "active"}')
        await (await vault_js.key_value(BUCKET_SEALING)).put("probe", b"{}")
        await (await vault_js.key_value(BUCKET_ACCOUNTS)).put("acme", b"{}")
        # resolver and validator read key records (resolver also watches them).
        for reader in (resolver, validator):
            kv = await reader.nc.jetstream().key_value(BUCKET_KEYS)
            entry = await kv.get("workspace.acme.anthropic")
            assert entry.value == b'{"state": "active"}'
        watcher = await (await resolver.nc.jetstream().key_value(BUCKET_KEYS)).watchall()
        first = await watcher.updates(timeout=2)
        assert first is not None
        assert first.key == "workspace.acme.anthropic"
        await watcher.stop()
        # resolver consumes key events; usage consumers pull and ack.
        await vault_js.publish(subjects.EVENTS_KEYS_REMOVED, b"{}")
        events = await resolver.nc.jetstream().pull_subscribe(
            f"{subjects.EVENTS_PREFIX}.>",
            durable="resolver-test",
            stream=STREAM_EVENTS,
            inbox_prefix=f"{inbox_prefix('resolver')}.".encode(),
        )
        assert (await events.fetch(1, timeout=2))[0].subject.startswith(subjects.EVENTS_PREFIX)
        await runtime.nc.jetstream().publish(
            subjects.USAGE_RECORDED, b"{}", headers={"Nats-Msg-Id": "req-usage"}
        )
        for consumer in (ledger, tracker):
            sub = await consumer.nc.jetstream().pull_subscribe(
                subjects.USAGE_RECORDED,
                durable=f"{consumer.role}-test",
                stream=STREAM_USAGE,
                inbox_prefix=f"{inbox_prefix(consumer.role)}.".encode(),
            )
            msg = (await sub.fetch(1, timeout=2))[0]
            await msg.ack_sync(timeout=2)
        ack = await ledger.nc.jetstream().publish(subjects.ledger_journal("acme"), b"{}")
        assert ack.seq >= 1
        await ledger.nc.jetstream().publish(subjects.EVENTS_CREDITS_EXHAUSTED, b"{}")
        violations = [e for c in (vault, resolver, validator, ledger, tracker) for e in c.errors]
        assert not [e for e in violations if "iolation" in e]


async def test_freshness_barrier_and_internal_hops_work_under_authorization(
    bootstrapped: NatsServer,
) -> None:
    async with (
        connected(bootstrapped, "key-vault") as vault,
        connected(bootstrapped, "resolver") as resolver,
        connected(bootstrapped, "validator") as validator,
    ):
        applied: list[str] = []
        presence = ReplicaPresence(
            resolver.nc,
            resolver.nc.jetstream(),
            "replica-a",
            on_sync=lambda subject, _: applied.append(subject),
        )
        await presence.start()
        try:
            barrier = FreshnessBarrier(vault.nc, vault.nc.jetstream(), timeout=2)
            result = await barrier.confirm(subjects.EVENTS_KEYS_REMOVED, HealthRequest())
            assert result.complete
            assert "replica-a" in result.replicas
            assert applied == [subjects.EVENTS_KEYS_REMOVED]
        finally:
            await presence.stop()

        async def unseal(msg: Msg) -> None:
            await msg.respond(b'{"status": "ok"}')

        async def validate(msg: Msg) -> None:
            await msg.respond(b'{"status": "valid"}')

        await vault.nc.subscribe(subjects.INTERNAL_KEYS_UNSEAL, cb=unseal)
        await validator.nc.subscribe(subjects.keys_validate_for("v1"), cb=validate)
        await vault.nc.flush()
        await validator.nc.flush()
        for caller in (resolver, validator):
            reply = await ask(caller, subjects.INTERNAL_KEYS_UNSEAL)
            assert json.loads(reply.data) == {"status": "ok"}
        reply = await ask(vault, subjects.keys_validate_for("v1"))
        assert json.loads(reply.data) == {"status": "valid"}
        assert not [e for c in (vault, resolver, validator) for e in c.errors if "iolation" in e]


async def test_a_service_connects_with_its_settings_and_answers_health(
    bootstrapped: NatsServer, tmp_path: Path
) -> None:
    settings = settings_for(
        bootstrapped.url,
        tmp_path / "data",
        nats_user="resolver",
        nats_password=SecretStr(PASSWORDS["resolver"]),
        nats_inbox_prefix=inbox_prefix("resolver"),
    )
    service = Service("resolver", settings)
    async with (
        running(service.app),
        connected(bootstrapped, "backend") as backend,
        connected(bootstrapped, "runtime") as runtime,
    ):
        for client in (backend, runtime):
            reply = await ask(client, subjects.health("resolver"))
            assert json.loads(reply.data)["service"] == "resolver"


def test_service_buckets_match_what_the_services_create() -> None:
    from byok_key_vault.adapters.jetstream import EXTRA_BUCKETS as VAULT_BUCKETS
    from byok_resolver.app import replica_subject
    from byok_validator.adapters.jetstream import EXTRA_BUCKETS as VALIDATOR_BUCKETS

    assert SERVICE_BUCKETS["key-vault"] == tuple(b.name for b in VAULT_BUCKETS)
    assert SERVICE_BUCKETS["validator"] == tuple(b.name for b in VALIDATOR_BUCKETS)
    assert allows_subscribe(ROLES["resolver"], replica_subject("r1"))
    assert allows_publish(ROLES["operator"], replica_subject("r1"))
    assert not allows_publish(ROLES["runtime"], replica_subject("r1"))


async def test_all_five_services_run_under_their_own_users(
    fresh_auth_server: NatsServer, tmp_path: Path
) -> None:
    import importlib

    apps = []
    for service in subjects.SERVICES:
        module = importlib.import_module("byok_" + service.replace("-", "_") + ".app")
        settings = settings_for(
            fresh_auth_server.url,
            tmp_path / "data",
            nats_user=service,
            nats_password=SecretStr(PASSWORDS[service]),
            nats_inbox_prefix=inbox_prefix(service),
        )
        apps.append(module.create_app(settings))
    async with running(*apps), connected(fresh_auth_server, "backend") as backend:
        for service in subjects.SERVICES:
            reply = await ask(backend, subjects.health(service))
            assert json.loads(reply.data)["status"] == "ok"
        reply = await ask(backend, subjects.KEYS_PUBLIC_KEY)
        assert json.loads(reply.data)["status"] == "ok"
        reply = await ask(backend, subjects.LEDGER_BALANCE, b'{"account": "acme"}')
        assert json.loads(reply.data)["status"] == "ok"
        reply = await ask(backend, subjects.USAGE_QUERY, b'{"account": "acme"}')
        assert json.loads(reply.data)["status"] == "ok"
        # the `byok` command connects as a role from BYOK_NATS_* like every process
        cli = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).parent / "byok"),
            "health",
            env={
                **os.environ,
                "BYOK_NATS_URL": fresh_auth_server.url,
                **service_env("backend", PASSWORDS),
            },
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(cli.communicate(), 30)
        assert cli.returncode == 0, err.decode()
        assert set(json.loads(out)) == set(subjects.SERVICES)
        await asyncio.sleep(0.5)  # background consumers and watches at work
    violations = [
        line for line in (tmp_path / "nats.log").read_text().splitlines() if "Violation" in line
    ]
    assert violations == []


async def test_the_freshness_barrier_works_under_least_privilege(
    fresh_auth_server: NatsServer,
) -> None:
    """key-vault lists resolver replicas with reads only, and every replica acks."""
    applied: list[str] = []
    async with (
        connected(fresh_auth_server, "resolver") as resolver,
        connected(fresh_auth_server, "key-vault") as vault,
    ):
        presence = ReplicaPresence(
            resolver.nc, resolver.nc.jetstream(), "r1", lambda s, _d: applied.append(s)
        )
        await presence.start()
        barrier = FreshnessBarrier(vault.nc, vault.nc.jetstream(), timeout=2.0)
        event = KeyChanged(
            event="removed", key_id="key_1", scope=Scope.parse("session:s1"), provider="openai"
        )
        result = await barrier.confirm(subjects.EVENTS_KEYS_REMOVED, event)
        await presence.stop()
        assert result.replicas == {"r1"}
        assert result.complete
        assert applied == [subjects.EVENTS_KEYS_REMOVED]
        assert vault.errors == []
        assert resolver.errors == []
    assert not allows_publish(ROLES["key-vault"], "$JS.API.CONSUMER.CREATE.KV_byok-resolvers")
