"""Per-tenant runtime users on a real nats-server running the generated authorization:
a runtime issued for some accounts resolves for those only, refused by the server on
other accounts' subjects and by the resolver for another tenant's chain.
"""

from __future__ import annotations

from collections.abc import Awaitable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import nats
import pytest
from nats.errors import TimeoutError as NatsTimeout

from byok_client import ByokClient
from byok_contracts import Forbidden, Unavailable, subjects
from byok_contracts.v1 import Resolved
from byok_shared.jetstream import STREAM_USAGE
from byok_shared.natsauth import inbox_prefix, resolve_subject_for
from byok_shared.natsserver import NatsServer
from byok_shared.provision import provision_jetstream
from byok_shared.testing.apps import running
from byok_shared.testing.fake_providers import FakeProviders
from byok_shared.testing.natsroles import (
    AUTH_ROLES,
    RESPONDER,
    TENANT,
    RoleConnection,
    ask,
    connected,
    service_apps,
    start_auth_server,
)
from byok_shared.testing.natsroles import TENANT_PASSWORDS as PASSWORDS


def login(server: NatsServer, role: str) -> AbstractAsyncContextManager[RoleConnection]:
    return connected(server, role, PASSWORDS)


async def test_a_tenant_runtime_resolves_only_for_its_accounts(provisioned: NatsServer) -> None:
    async with (
        login(provisioned, RESPONDER.name) as resolver,
        login(provisioned, TENANT.name) as tenant,
    ):
        served: list[str] = []

        async def answer(msg: nats.aio.msg.Msg) -> None:
            served.append(msg.subject)
            await msg.respond(b'{"status": "resolved"}')

        await resolver.nc.subscribe(f"{subjects.RESOLVE}.*", queue="byok-resolver", cb=answer)
        await resolver.nc.flush()
        reply = await ask(tenant, resolve_subject_for("acme"))
        assert reply.data == b'{"status": "resolved"}'
        assert reply.subject.startswith(f"_INBOX_{TENANT.name}.")
        for forbidden in (resolve_subject_for("globex"), subjects.RESOLVE, f"{subjects.RESOLVE}.*"):
            with pytest.raises(NatsTimeout):
                await tenant.nc.request(forbidden, b"{}", timeout=0.3)
            await tenant.wait_denied(forbidden)
        assert served == [resolve_subject_for("acme")]
        # usage, reports and health stay open to it, as to any runtime
        ack = await tenant.nc.jetstream().publish(
            subjects.USAGE_RECORDED, b"{}", headers={"Nats-Msg-Id": "tenant-usage-1"}
        )
        assert ack.stream == STREAM_USAGE
    assert resolver.errors == []


async def test_a_tenant_runtime_resolves_its_own_accounts_through_the_real_services(
    tmp_path: Path, fake_providers: FakeProviders
) -> None:
    """The five services under their own users; a runtime issued for acme only."""
    base = tmp_path / "nats"
    base.mkdir()
    server = start_auth_server(base, PASSWORDS, AUTH_ROLES)
    try:
        await _tenant_scenario(server, tmp_path, fake_providers)
    finally:
        server.stop()
    violations = [
        line
        for line in (base / "nats.log").read_text().splitlines()
        if "Violation" in line and TENANT.name not in line
    ]
    assert violations == []  # only the tenant's own attempts were refused


async def _tenant_scenario(server: NatsServer, tmp_path: Path, fake: FakeProviders) -> None:
    async with login(server, "operator") as operator:
        await provision_jetstream(operator.nc.jetstream())
    apps = service_apps(
        ("key-vault", "validator", "resolver"),
        server.url,
        tmp_path / "data",
        PASSWORDS,
        **fake.settings_overrides(),
    )
    acme_key = fake.add_key("sk-ant-api03-" + "acmeTenantKey0" * 6 + "-tailAA")
    globex_key = fake.add_key("sk-ant-api03-" + "globexTenantK1" * 6 + "-tailAA")

    def as_role(role: str, timeout: float = 10.0) -> Awaitable[ByokClient]:
        return ByokClient.connect(
            server.url,
            user=role,
            password=PASSWORDS[role],
            inbox_prefix=inbox_prefix(role),
            timeout=timeout,
        )

    async with running(*apps), await as_role("backend") as backend:
        await backend.configure("workspace:acme-ws", acme_key, account="acme")
        await backend.configure("workspace:globex-ws", globex_key, account="globex")
        async with await as_role(TENANT.name, timeout=30.0) as tenant:
            route = await tenant.resolve("acme", ["workspace:acme-ws"], per_account=True)
            assert route.api_key == acme_key
            # its own subject with another tenant's chain: refused by the resolver
            with pytest.raises(Forbidden) as wrong:
                await tenant.request(
                    subjects.resolve_for("acme"),
                    {
                        "account": "globex",
                        "chain": [{"type": "workspace", "id": "globex-ws"}],
                        "recipient_key": tenant.runtime_keypair.public_b64,
                    },
                    Resolved,
                )
            assert wrong.value.error == "wrong_account"
            with pytest.raises(Forbidden):
                await tenant.resolve("acme", ["workspace:globex-ws"], per_account=True)
            # another account's subject, and the plain subject: refused by the server, so
            # the request goes unanswered (a short wait suffices to see that)
            tenant.timeout = 2.0
            with pytest.raises(Unavailable):
                await tenant.resolve("globex", ["workspace:globex-ws"], per_account=True)
            with pytest.raises(Unavailable):
                await tenant.resolve("globex", ["workspace:globex-ws"])
