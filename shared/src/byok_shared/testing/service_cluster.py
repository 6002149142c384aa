"""A nats-server and every byok service as real processes, for fault tests and the soak.

:class:`ServiceCluster` starts the server, provisions it (as ``make run`` does before
any service starts) and ``replicas[service]`` processes of each service, any of them
killable with SIGKILL and restartable; the server restartable on its store dir.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from pathlib import Path

import nats
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

from byok_contracts import subjects

from ..connect import log_nats_error
from ..natsserver import NatsServer
from ..provision import provision_jetstream
from .fake_providers import FakeProviders
from .polling import eventually
from .processes import ServiceProcess, stop_all

__all__ = ["SERVICES", "ServiceCluster", "responders"]

SERVICES = subjects.SERVICES

# Short ack waits and fetch timeouts: a killed ledger/tracker's unacked messages come back
# quickly, so a fault run does not wait out the production defaults.
FAULT_ENV = {
    "BYOK_LEDGER_ACK_WAIT": "2",
    "BYOK_USAGE_TRACKER_ACK_WAIT": "2",
    "BYOK_LEDGER_FETCH_TIMEOUT": "0.2",
    "BYOK_USAGE_TRACKER_FETCH_TIMEOUT": "0.2",
    "BYOK_VALIDATOR_REVALIDATE_INTERVAL": "0",
}


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


class ServiceCluster:
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
        common = providers.env() | FAULT_ENV | (env or {})
        self.procs = {
            name: [
                ServiceProcess(
                    name,
                    self.server.url,
                    base,
                    index=i,
                    env=common | {"BYOK_USAGE_TRACKER_REPLICA": f"r{i}"},
                )
                for i in range(counts[name])
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
                self.url,
                max_reconnect_attempts=-1,
                reconnect_time_wait=0.1,
                error_cb=log_nats_error,
            )
        return self._nc

    async def start(self, timeout: float = 60.0) -> None:
        self.server.start_anywhere()
        for procs in self.procs.values():  # the server's port is known only now
            for proc in procs:
                proc.url = self.server.url
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

    async def wait_replicas(self, service: str, count: int, timeout: float = 60.0) -> float:
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

    async def restart(self, service: str, index: int = 0, timeout: float = 60.0) -> float:
        """Start a killed replica again; returns seconds until every replica answers."""
        proc = self.procs[service][index]
        assert not proc.alive
        started = time.monotonic()
        proc.start()
        alive = sum(p.alive for p in self.procs[service])
        await self.wait_replicas(service, alive, timeout)
        return time.monotonic() - started

    async def wait_all_healthy(self, timeout: float = 60.0) -> None:
        for name, procs in self.procs.items():
            await self.wait_replicas(name, sum(p.alive for p in procs), timeout)

    async def close(self) -> None:
        if self._nc is not None:
            with contextlib.suppress(Exception):
                await self._nc.close()
        stop_all(proc for procs in self.procs.values() for proc in procs)
        self.server.stop()

    def logs(self) -> str:
        """Tail of every process log, for assertion messages."""
        return "\n".join(
            f"--- {proc.log.name}\n{proc.tail()}"
            for procs in self.procs.values()
            for proc in procs
            if proc.log.exists()
        )
