"""What several benchmark suites share: service processes, one server per run, resolve bodies.

Processes are :class:`byok_shared.testing.processes.ServiceProcess` (the one way tests and
benches spawn a service), quiet here: warnings only, so the figures are not paid in logging.
"""

from __future__ import annotations

import json
import shutil
import statistics
import tempfile
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import nats
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from byok_contracts import Keypair
from byok_shared.jetstream import Bucket, ensure_jetstream
from byok_shared.natsserver import NatsServer
from byok_shared.testing.processes import ServiceProcess, stop_all

__all__ = [
    "Proc",
    "latency_summary",
    "ms",
    "one_server",
    "pct",
    "resolve_body",
    "resolver_process",
    "stop_all",
]

ACCOUNT = "bench"


class Proc(ServiceProcess):
    """A started byok service process (``python -m <module>``) on ``url``, warnings only;
    its log is ``<module>.log`` under ``data``."""

    def __init__(self, module: str, url: str, data: Path, *, log: Path | None = None, **env: str):
        service = module.removeprefix("byok_").replace("_", "-")
        quiet = {"BYOK_LOG_LEVEL": "WARNING", **env}
        super().__init__(service, url, data, env=quiet, log=log or data / f"{module}.log")
        self.start()


def resolver_process(url: str, work: Path, replica: str) -> Proc:
    """A resolver replica with its own id (and so its own replica subject), data in
    ``work/data``, its log ``work/<replica>.log``."""
    log = work / f"{replica}.log"
    return Proc("byok_resolver", url, work / "data", log=log, BYOK_RESOLVER_REPLICA_ID=replica)


def pct(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values``, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def latency_summary(samples: list[float]) -> dict[str, float]:
    """p50 and p99 in milliseconds."""
    return {"p50_ms": ms(statistics.median(samples)), "p99_ms": ms(pct(samples, 0.99))}


def resolve_body(runtime: Keypair, chain: Sequence[tuple[str, str]] | None = None) -> bytes:
    """A resolve request of account ``bench`` sealed to ``runtime`` (by default the chain
    session ``bench-1`` > workspace ``bench`` > account ``bench``)."""
    scopes = chain or (("session", "bench-1"), ("workspace", "bench"), ("account", ACCOUNT))
    body = {
        "account": ACCOUNT,
        "chain": [{"type": kind, "id": ident} for kind, ident in scopes],
        "recipient_key": runtime.public_b64,
    }
    return json.dumps(body).encode()


@asynccontextmanager
async def one_server(
    prefix: str, *, extra_buckets: tuple[Bucket, ...] = (), js_timeout: float = 30.0
) -> AsyncIterator[tuple[NatsServer, NatsClient, JetStreamContext, Path, list[ServiceProcess]]]:
    """A nats-server of its own in a temporary directory, streams and buckets created; yields
    the server, a connection, its JetStream, the directory and a list of processes that are
    all stopped (with the server, and the directory removed) on exit."""
    data = Path(tempfile.mkdtemp(prefix=prefix))
    server = NatsServer(store_dir=data / "js", log_file=data / "nats.log").start_anywhere()
    procs: list[ServiceProcess] = []
    try:
        nc = await nats.connect(server.url)
        try:
            js = nc.jetstream(timeout=js_timeout)
            await ensure_jetstream(js, extra_buckets=extra_buckets)
            yield server, nc, js, data, procs
        finally:
            stop_all(procs)
            await nc.close()
    finally:
        server.stop()
        shutil.rmtree(data, ignore_errors=True)
