"""The services under NATS authorization, on a real nats-server: the freshness
barrier and the internal hops, each service under its own user, the buckets each one
may touch. The table's enforcement itself: ``test_nats_auth.py``.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from nats.aio.msg import Msg
from pydantic import SecretStr

from byok_contracts import subjects
from byok_contracts.v1 import HealthRequest, KeyChanged, Scope
from byok_shared import Service
from byok_shared.freshness import FreshnessBarrier, ReplicaPresence
from byok_shared.natsauth import (
    ROLES,
    SERVICE_BUCKETS,
    allows_publish,
    allows_subscribe,
    inbox_prefix,
)
from byok_shared.natsconfig import service_env
from byok_shared.natsserver import NatsServer
from byok_shared.testing.apps import running, settings_for
from byok_shared.testing.natsroles import (
    PASSWORDS,
    ask,
    connected,
    service_apps,
)


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
            barrier = FreshnessBarrier(vault.nc, vault.nc.jetstream(), timeout=10)
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

    apps = service_apps(subjects.SERVICES, fresh_auth_server.url, tmp_path / "data", PASSWORDS)
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
        barrier = FreshnessBarrier(vault.nc, vault.nc.jetstream(), timeout=10.0)
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
