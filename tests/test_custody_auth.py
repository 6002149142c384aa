"""Custody under NATS authorization (issue 10): who may register as an unseal
recipient, who writes and reads the audit trail, and the whole path with every
service and client as its own user against a real nats-server."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import nats

from byok_client import ByokClient
from byok_contracts import Keypair, subjects
from byok_shared.jetstream import BUCKET_RECIPIENTS
from byok_shared.natsauth import ROLES, allows_publish, inbox_prefix
from byok_shared.natsserver import NatsServer
from byok_shared.testing import running
from byok_shared.testing.fake_providers import FakeProviders
from byok_shared.testing.natsroles import PASSWORDS, service_apps
from byok_shared.testing.polling import eventually

KEY = "sk-ant-api03-" + "Cust0dyUnd3rAuth0r1z" * 4 + "-caAA"


def test_only_resolver_and_validator_register_recipients_only_key_vault_audits() -> None:
    register = f"$KV.{BUCKET_RECIPIENTS}.0123456789abcdef"
    audit = subjects.audit("acme", "workspace", "w", "unseal")
    read_audit = "$JS.API.CONSUMER.CREATE.BYOK_AUDIT"
    for name, role in ROLES.items():
        assert allows_publish(role, register) is (name in ("resolver", "validator")), name
        assert allows_publish(role, audit) is (name == "key-vault"), name
        assert allows_publish(role, read_audit) is (name == "operator"), name


async def as_role(server: NatsServer, role: str, account: str | None = None) -> ByokClient:
    return await ByokClient.connect(
        server.url,
        user=role,
        password=PASSWORDS[role],
        inbox_prefix=inbox_prefix(role),
        timeout=5.0,
        account=account,
    )


async def test_configure_resolve_and_audit_under_least_privilege(
    fresh_auth_server: NatsServer, tmp_path: Path
) -> None:

    with FakeProviders() as fake:
        fake.add_key(KEY, "valid")
        apps = service_apps(
            ("key-vault", "validator", "resolver", "credit-ledger"),
            fresh_auth_server.url,
            tmp_path / "data",
            PASSWORDS,
            **fake.settings_overrides(),
        )
        async with running(*apps):
            backend = await as_role(fresh_auth_server, "backend", account="acme")
            runtime = await as_role(fresh_auth_server, "runtime")
            operator = await as_role(fresh_auth_server, "operator")
            try:
                stored = await backend.configure("workspace:acme-ws", KEY, actor="alice")
                route = await runtime.resolve("acme", ["workspace:acme-ws"], source="byok")
                assert route.api_key == KEY  # unsealed to the registered resolver replica
                # A runtime cannot register itself as a recipient, nor write the audit.
                errors: list[str] = []

                async def on_error(exc: Exception) -> None:
                    errors.append(str(exc).lower())

                raw = await nats.connect(
                    fresh_auth_server.url,
                    user="runtime",
                    password=PASSWORDS["runtime"],
                    inbox_prefix=inbox_prefix("runtime"),
                    error_cb=on_error,
                    max_reconnect_attempts=0,
                )
                forged = {"role": "resolver", "public_key": Keypair.generate().public_b64}
                await raw.publish(
                    f"$KV.{BUCKET_RECIPIENTS}.f0f0f0f0f0f0f0f0", json.dumps(forged).encode()
                )
                await raw.publish(subjects.audit("acme", "workspace", "x", "unseal"), b"{}")
                await raw.flush()

                # nats-py reports violations after the flush returns: wait for both.
                async def both_reported() -> bool:
                    return sum("permissions violation" in e for e in errors) >= 2

                await eventually(both_reported, 30, "both violations reported")
                await raw.flush()  # and a round trip for any unexpected third
                await raw.close()
                assert sum("permissions violation" in e for e in errors) == 2, errors

                entries = await operator.audit(key_id=stored.key_id)
                async with asyncio.timeout(30):  # the audit is appended as the hops happen
                    while len(entries) < 2:
                        await asyncio.sleep(0.05)
                        entries = await operator.audit(key_id=stored.key_id)
                assert [e.operation for e in entries] == ["configure", "unseal"]
                assert "backend" in (entries[0].role or "").split("|")
                assert entries[1].role == "resolver"
                assert entries[0].actor == "alice"
            finally:
                for client in (backend, runtime, operator):
                    await client.close()
    violations = [
        line
        for line in (tmp_path / "nats.log").read_text().splitlines()
        if "Violation" in line and "runtime" not in line
    ]
    assert violations == []
