"""Streams are provisioned by the operator, never edited by services; per-tenant runtimes.

Attacks against a real nats-server running the generated authorization: a
service user (usage-tracker, the least trusted) tries to rewrite, widen, purge
or delete streams and other services' buckets; a tenant runtime tries to
resolve for an account it was not issued (``test_nats_tenants.py``). Then what a
service does when the provisioning is missing or was tampered with.
"""

from __future__ import annotations

import asyncio
from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from pathlib import Path

import nats
import pytest
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import StreamConfig
from pydantic import SecretStr

from byok_contracts import subjects
from byok_shared import Service
from byok_shared.jetstream import (
    BUCKET_KEYS,
    BUCKET_SEALING,
    STREAM_EVENTS,
    STREAM_LEDGER,
    STREAM_USAGE,
    all_buckets,
    stream_configs,
    usage_consumer,
)
from byok_shared.natsauth import (
    LEDGER_USAGE_DURABLE,
    ROLES,
    allows_publish,
    inbox_prefix,
    tenant_runtime,
)
from byok_shared.natsserver import NatsServer
from byok_shared.provision import NotProvisioned, provision_jetstream, verify_jetstream
from byok_shared.testing.apps import running, settings_for
from byok_shared.testing.natsroles import (
    TENANT_PASSWORDS as PASSWORDS,
)
from byok_shared.testing.natsroles import (
    RoleConnection,
    connected,
)

SERVICE_ROLES = tuple(subjects.SERVICES)


def login(server: NatsServer, role: str) -> AbstractAsyncContextManager[RoleConnection]:
    return connected(server, role, PASSWORDS)


# --- the table ------------------------------------------------------------------


def test_no_service_may_create_update_purge_or_delete_a_stream() -> None:
    for name in SERVICE_ROLES:
        for pattern in ROLES[name].publish:
            if pattern.startswith("$JS.API.STREAM."):
                assert pattern.split(".")[3] in ("INFO", "MSG"), (name, pattern)
        for op in ("CREATE", "UPDATE", "DELETE", "PURGE"):
            for stream in (STREAM_USAGE, STREAM_LEDGER, f"KV_{BUCKET_KEYS}"):
                assert not allows_publish(ROLES[name], f"$JS.API.STREAM.{op}.{stream}"), name


def test_only_the_operator_provisions_and_it_never_deletes_or_purges() -> None:
    operator = ROLES["operator"]
    for stream in (STREAM_USAGE, STREAM_LEDGER, f"KV_{BUCKET_KEYS}"):
        assert allows_publish(operator, f"$JS.API.STREAM.UPDATE.{stream}")
        assert not allows_publish(operator, f"$JS.API.STREAM.DELETE.{stream}")
        assert not allows_publish(operator, f"$JS.API.STREAM.PURGE.{stream}")
    assert not allows_publish(operator, f"$KV.{BUCKET_KEYS}.workspace.acme.openai")
    assert not allows_publish(operator, f"$JS.API.DIRECT.GET.KV_{BUCKET_SEALING}")


def test_tenant_runtime_ids_cannot_carry_wildcards() -> None:
    for accounts in (["*"], [">"], ["acme.>"], ["acme", "b c"], []):
        with pytest.raises(ValueError, match="accounts"):
            tenant_runtime("tenant-x", accounts)
    with pytest.raises(ValueError, match="name"):
        tenant_runtime("backend", ["acme"])  # no tenant may take a byok role's name


# --- attacks on a real server ----------------------------------------------------


async def _attempt_stream_edit(conn: RoleConnection, subject: str, config: StreamConfig) -> None:
    """Send a stream-management request; under least privilege nobody answers it."""
    js = conn.nc.jetstream(timeout=0.5)
    name = config.name or ""
    if ".UPDATE." in subject:
        attempt = js.update_stream(config)
    elif ".PURGE." in subject:
        attempt = js.purge_stream(name)
    elif ".DELETE." in subject:
        attempt = js.delete_stream(name)
    else:
        attempt = js.add_stream(config)
    with pytest.raises(NatsTimeout):
        await attempt
    await conn.wait_denied(subject)


async def test_usage_tracker_cannot_shrink_the_ledger(provisioned: NatsServer) -> None:
    async with login(provisioned, "credit-ledger") as ledger:
        for i in range(3):
            await ledger.nc.jetstream().publish(subjects.ledger_journal("acme"), f"{i}".encode())
    async with login(provisioned, "usage-tracker") as tracker:
        before = await tracker.nc.jetstream().stream_info(STREAM_LEDGER)
        attack = replace(before.config, max_msgs=1)
        await _attempt_stream_edit(tracker, f"$JS.API.STREAM.UPDATE.{STREAM_LEDGER}", attack)
        after = await tracker.nc.jetstream().stream_info(STREAM_LEDGER)
    assert after.config.max_msgs == -1
    assert after.state.messages == before.state.messages >= 3


async def test_usage_tracker_cannot_expire_the_keys_bucket(provisioned: NatsServer) -> None:
    async with login(provisioned, "key-vault") as vault:
        kv = await vault.nc.jetstream().key_value(BUCKET_KEYS)
        await kv.put("workspace.victim.openai", b'{"state": "active"}')
    async with login(provisioned, "usage-tracker") as tracker:
        js = tracker.nc.jetstream()
        before = await js.stream_info(f"KV_{BUCKET_KEYS}")
        attack = replace(before.config, max_age=1.0)
        await _attempt_stream_edit(tracker, f"$JS.API.STREAM.UPDATE.KV_{BUCKET_KEYS}", attack)
        await asyncio.sleep(1.2)
        after = await js.stream_info(f"KV_{BUCKET_KEYS}")
    assert after.config.max_age in (None, 0)
    assert after.state.messages == before.state.messages >= 1


async def test_usage_tracker_cannot_widen_the_usage_stream(provisioned: NatsServer) -> None:
    async with login(provisioned, "usage-tracker") as tracker:
        before = await tracker.nc.jetstream().stream_info(STREAM_USAGE)
        attack = replace(before.config, subjects=[subjects.USAGE_RECORDED, "_INBOX_backend.>"])
        await _attempt_stream_edit(tracker, f"$JS.API.STREAM.UPDATE.{STREAM_USAGE}", attack)
        after = await tracker.nc.jetstream().stream_info(STREAM_USAGE)
    assert after.config.subjects == [subjects.USAGE_RECORDED]


@pytest.mark.parametrize("role", SERVICE_ROLES)
async def test_no_service_can_purge_delete_or_create_streams(
    provisioned: NatsServer, role: str
) -> None:
    async with login(provisioned, "key-vault") as vault:
        await (await vault.nc.jetstream().key_value(BUCKET_KEYS)).put("session.s1.openai", b"{}")
    async with login(provisioned, role) as conn:
        for stream in (f"KV_{BUCKET_KEYS}", STREAM_LEDGER, STREAM_USAGE):
            config = StreamConfig(name=stream)
            await _attempt_stream_edit(conn, f"$JS.API.STREAM.PURGE.{stream}", config)
            await _attempt_stream_edit(conn, f"$JS.API.STREAM.DELETE.{stream}", config)
        rogue = StreamConfig(name="ROGUE", subjects=["_INBOX_runtime.>"])
        await _attempt_stream_edit(conn, "$JS.API.STREAM.CREATE.ROGUE", rogue)
    async with login(provisioned, "operator") as operator:
        info = await operator.nc.jetstream().stream_info(f"KV_{BUCKET_KEYS}")
        assert info.state.messages >= 1
        account = await operator.nc.jetstream().account_info()
    assert account.streams == len(stream_configs()) + len(all_buckets())  # no ROGUE


async def test_a_service_cannot_roll_up_another_services_bucket(provisioned: NatsServer) -> None:
    """A KV purge of a key is a publish with a rollup header: only in one's own bucket."""
    async with login(provisioned, "key-vault") as vault:
        await (await vault.nc.jetstream().key_value(BUCKET_KEYS)).put("workspace.k.openai", b"{}")
    async with login(provisioned, "resolver") as resolver:
        subject = f"$KV.{BUCKET_KEYS}.workspace.k.openai"
        await resolver.nc.publish(
            subject, b"", headers={"KV-Operation": "PURGE", "Nats-Rollup": "all"}
        )
        await resolver.wait_denied(subject)
    async with login(provisioned, "operator") as operator:
        info = await operator.nc.jetstream().stream_info(f"KV_{BUCKET_KEYS}")
    assert info.state.messages >= 1


# --- services verify what the operator provisioned --------------------------------


async def test_a_service_refuses_to_start_on_an_unprovisioned_server(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    nc = await nats.connect(nats_server.url)
    try:
        await nc.jetstream().delete_stream(STREAM_USAGE)  # as if never provisioned
    finally:
        await nc.close()
    service = Service("usage-tracker", settings_for(nats_server.url, tmp_path / "data"))
    with pytest.raises(NotProvisioned) as refused:
        async with running(service.app):
            pass
    message = str(refused.value)
    assert f"stream {STREAM_USAGE} does not exist" in message
    assert "python -m byok_shared.provision" in message


async def test_a_service_refuses_a_tampered_bucket_and_provisioning_repairs_it(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    try:
        info = await js.stream_info(f"KV_{BUCKET_KEYS}")
        await js.update_stream(replace(info.config, max_age=3600.0))
        ledger = await js.stream_info(STREAM_LEDGER)
        await js.update_stream(replace(ledger.config, max_msgs=1))
        with pytest.raises(NotProvisioned) as refused:
            await verify_jetstream(js)
        assert f"bucket {BUCKET_KEYS}: max_age is 3600" in str(refused.value)
        assert f"stream {STREAM_LEDGER}: max_msgs is 1" in str(refused.value)
        service = Service("resolver", settings_for(nats_server.url, tmp_path / "data"))
        with pytest.raises(NotProvisioned):
            async with running(service.app):
                pass
        done = await provision_jetstream(js)
        assert set(done) == {f"updated bucket {BUCKET_KEYS}", f"updated stream {STREAM_LEDGER}"}
        await verify_jetstream(js)
        assert await provision_jetstream(js) == []  # idempotent
    finally:
        await nc.close()


async def test_services_start_under_authorization_after_provisioning(
    provisioned: NatsServer, tmp_path: Path
) -> None:
    settings = settings_for(
        provisioned.url,
        tmp_path / "data",
        nats_user="usage-tracker",
        nats_password=SecretStr(PASSWORDS["usage-tracker"]),
        nats_inbox_prefix=inbox_prefix("usage-tracker"),
    )
    from byok_usage_tracker.app import create_app

    async with running(create_app(settings)), login(provisioned, "backend") as backend:
        reply = await backend.nc.request(subjects.health("usage-tracker"), b"{}", timeout=5)
        assert b'"ok"' in reply.data
    assert backend.errors == []


def test_bounded_streams_refuse_new_rather_than_drop() -> None:
    by_name = {c.name: c for c in stream_configs(usage_max_bytes=1000, events_max_bytes=2000)}
    assert by_name[STREAM_USAGE].max_bytes == 1000
    assert by_name[STREAM_EVENTS].max_bytes == 2000
    for name in (STREAM_USAGE, STREAM_EVENTS, STREAM_LEDGER):
        assert by_name[name].discard is not None
        assert by_name[name].discard.value == "new", name


def test_the_denied_durable_is_the_ledgers() -> None:
    from byok_credit_ledger.config import LedgerConfig

    assert LedgerConfig.model_fields["durable"].default == LEDGER_USAGE_DURABLE
    tracker = ROLES["usage-tracker"]
    assert not allows_publish(tracker, f"$JS.API.CONSUMER.MSG.NEXT.{STREAM_USAGE}.credit-ledger")
    assert allows_publish(tracker, f"$JS.API.CONSUMER.MSG.NEXT.{STREAM_USAGE}.usage-tracker-main")


async def test_usage_tracker_cannot_drain_or_delete_the_ledgers_consumer(
    provisioned: NatsServer,
) -> None:
    """Pulling and acking from the ledger's durable would make usage skip its debit."""
    async with (
        login(provisioned, "credit-ledger") as ledger,
        login(provisioned, "usage-tracker") as tracker,
        login(provisioned, "runtime") as runtime,
    ):
        pull = await usage_consumer(
            ledger.nc.jetstream(), LEDGER_USAGE_DURABLE, ack_wait=30, max_ack_pending=100
        )
        await runtime.nc.jetstream().publish(
            subjects.USAGE_RECORDED, b'{"n": 1}', headers={"Nats-Msg-Id": "drain-1"}
        )
        js = tracker.nc.jetstream(timeout=0.5)
        with pytest.raises(NatsTimeout):
            await js.delete_consumer(STREAM_USAGE, LEDGER_USAGE_DURABLE)
        await tracker.wait_denied(f"$JS.API.CONSUMER.DELETE.{STREAM_USAGE}.{LEDGER_USAGE_DURABLE}")
        next_msg = f"$JS.API.CONSUMER.MSG.NEXT.{STREAM_USAGE}.{LEDGER_USAGE_DURABLE}"
        with pytest.raises(NatsTimeout):
            await tracker.nc.request(next_msg, b'{"batch": 10, "expires": 300000000}', timeout=0.5)
        await tracker.wait_denied(next_msg)
        msgs = await pull.fetch(10, timeout=2)
        assert [m.data for m in msgs if m.data == b'{"n": 1}'] == [b'{"n": 1}']
