"""pytest fixtures: a real nats-server with JetStream, chained server -> client -> jetstream."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from ..logs import install_redaction
from ..natsserver import NatsCluster, NatsServer
from ..provision import provision_blocking
from ..settings import ByokSettings
from .apps import settings_for
from .cluster import start_cluster
from .fake_providers import FakeProviders


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
