"""pytest fixtures: a real nats-server with JetStream, chained server -> client -> jetstream."""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from ..logs import install_redaction
from ..natsserver import NatsCluster, NatsServer
from ..provision import provision_blocking, provision_jetstream
from ..settings import ByokSettings
from .apps import running, settings_for
from .cluster import start_cluster
from .fake_providers import FakeProviders
from .natsroles import AUTH_ROLES, TENANT_PASSWORDS, connected, login, start_auth_server
from .system import SYSTEM_PARAMS, System, running_system


@pytest.fixture(autouse=True, scope="session")
def _redacted_logs() -> None:
    """Records are redacted at creation in tests too, as in every service process."""
    install_redaction()


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    """A fresh server per test on a free port, with its own JetStream store, provisioned
    (streams and buckets exist, as after ``make run``'s provisioning step)."""
    server = NatsServer(
        store_dir=tmp_path / "jetstream", log_file=tmp_path / "nats.log"
    ).start_anywhere()
    provision_blocking(server.url)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def shared_nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    """One server for a whole session, for suites that isolate by their own ids (provisioned)."""
    base = tmp_path_factory.mktemp("nats")
    server = NatsServer(store_dir=base / "jetstream", log_file=base / "nats.log").start_anywhere()
    provision_blocking(server.url)
    yield server
    server.stop()


@pytest.fixture
def nats_cluster(tmp_path: Path) -> Iterator[NatsCluster]:
    """A fresh 3-node JetStream cluster (routes with TLS and authorization) on free ports.

    Connect with ``nats_cluster.urls`` (or ``.url``, comma-separated). Provisioned at R3.
    """
    cluster = start_cluster(tmp_path / "nats-cluster")
    provision_blocking(cluster.urls, replicas=3)
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def shared_nats_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsCluster]:
    """One 3-node cluster for a whole session, not provisioned: a test provisions it at R3
    and empties it (:func:`byok_shared.testing.cluster.fresh_r3`)."""
    cluster = start_cluster(tmp_path_factory.mktemp("nats-cluster"))
    yield cluster
    cluster.stop()


@pytest.fixture
async def nc(nats_server: NatsServer) -> AsyncIterator[NatsClient]:
    client = await nats.connect(nats_server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.2)
    yield client
    await client.drain()


@pytest.fixture
def js(nc: NatsClient) -> JetStreamContext:
    return nc.jetstream()


@pytest.fixture
def byok_settings(nats_server: NatsServer, tmp_path: Path) -> ByokSettings:
    return settings_for(nats_server.url, tmp_path / "data")


@pytest.fixture
def fake_providers() -> Iterator[FakeProviders]:
    """Local Anthropic/OpenAI/Gemini model-list endpoints; point settings at them with
    ``settings_for(url, dir, **fake_providers.settings_overrides())``."""
    with FakeProviders(slow_seconds=1.0) as fake:
        yield fake


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    """A server with byok's authorization on (``natsroles.PASSWORDS``), one per module."""
    server = start_auth_server(tmp_path_factory.mktemp("nats-auth"))
    yield server
    server.stop()


@pytest.fixture
async def bootstrapped(auth_server: NatsServer) -> NatsServer:
    """``auth_server`` with its streams and buckets (provisioned by the operator, as make
    run does)."""
    async with connected(auth_server, "operator") as operator:
        await provision_jetstream(operator.nc.jetstream())
    assert operator.errors == []
    return auth_server


@pytest.fixture
def fresh_auth_server(tmp_path: Path) -> Iterator[NatsServer]:
    """A server with authorization on of its own, provisioned by the operator, for tests
    that run the services under their users."""
    server = start_auth_server(tmp_path)
    operator: dict[str, Any] = login("operator")
    provision_blocking(server.url, **operator)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def tenant_auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    """A server with byok's roles plus a tenant runtime and a resolve stand-in
    (``natsroles.AUTH_ROLES``, passwords ``TENANT_PASSWORDS``), one per module."""
    server = start_auth_server(
        tmp_path_factory.mktemp("nats-tenants"), TENANT_PASSWORDS, AUTH_ROLES
    )
    yield server
    server.stop()


@pytest.fixture
async def provisioned(tenant_auth_server: NatsServer) -> NatsServer:
    """``tenant_auth_server`` with its streams and buckets, provisioned by the operator."""
    async with connected(tenant_auth_server, "operator", TENANT_PASSWORDS) as operator:
        await provision_jetstream(operator.nc.jetstream())
    assert operator.errors == []
    return tenant_auth_server


def _service(module: str) -> Any:
    # Imported when a test asks for it: this package is below the services, not above.
    return importlib.import_module(module)


@pytest.fixture
async def key_stack(
    nats_server: NatsServer, tmp_path: Path, fake_providers: FakeProviders
) -> AsyncIterator[Any]:
    """key-vault and validator in-process (quick provider timeouts, every report checked
    at once), and a ``ByokClient`` for account ``acme``."""
    settings = settings_for(
        nats_server.url, tmp_path / "data", **fake_providers.settings_overrides()
    )
    validator = _service("byok_validator.config").ValidatorSettings(
        http_timeout=0.5, attempts=2, backoff=0.05, revalidate_interval=0, report_window=0.0
    )
    async with running(
        _service("byok_validator.app").create_app(settings, validator),
        _service("byok_key_vault.app").create_app(settings),
    ):
        client = await _service("byok_client").ByokClient.connect(
            nats_server.url, timeout=5.0, account="acme"
        )
        try:
            yield client
        finally:
            await client.close()


@pytest.fixture(params=SYSTEM_PARAMS)
async def system(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[System]:
    """All of byok in-process, with the local cipher, with a real OpenBao, and at R3 on a
    cluster (one test per DESIGN scenario runs on each)."""
    async with running_system(request, tmp_path) as running_one:
        yield running_one
