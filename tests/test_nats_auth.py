"""NATS authorization: the generated config, enforced by a real nats-server.

The table in ``byok_shared.natsauth`` is the one source. These tests show that
the server enforces exactly that table (for every role, every byok subject and
the JetStream/KV subjects a role could abuse) and that each role can still do
its job. The services themselves under authorization: ``test_nats_auth_services.py``.
That the table denies what each role must never do, without a server:
``shared/tests/test_shared_natsauth.py``.
"""

from __future__ import annotations

import asyncio
import json

import nats
import pytest
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeout

from byok_contracts import subjects
from byok_shared.jetstream import (
    BUCKET_ACCOUNTS,
    BUCKET_KEYS,
    BUCKET_SEALING,
    STREAM_EVENTS,
    STREAM_USAGE,
)
from byok_shared.jetstream import SERVICE_BUCKETS as _SERVICE_BUCKETS
from byok_shared.natsauth import (
    ROLES,
    allows_publish,
    allows_subscribe,
    inbox_prefix,
)
from byok_shared.natsserver import NatsServer
from byok_shared.provision import verify_jetstream
from byok_shared.testing.natsprobes import PUBLISH_PROBES, SUBSCRIBE_PROBES
from byok_shared.testing.natsroles import ask, connected


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
        first = await watcher.updates(timeout=10)
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
        assert (await events.fetch(1, timeout=10))[0].subject.startswith(subjects.EVENTS_PREFIX)
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
            msg = (await sub.fetch(1, timeout=10))[0]
            await msg.ack_sync(timeout=10)
        ack = await ledger.nc.jetstream().publish(subjects.ledger_journal("acme"), b"{}")
        assert ack.seq >= 1
        await ledger.nc.jetstream().publish(subjects.EVENTS_CREDITS_EXHAUSTED, b"{}")
        violations = [e for c in (vault, resolver, validator, ledger, tracker) for e in c.errors]
        assert not [e for e in violations if "iolation" in e]
