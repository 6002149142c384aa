"""``make run``: the whole byok stack on this machine, in one terminal.

Starts the embedded nats-server with JetStream (unless ``BYOK_NATS_URL`` is
set) with the per-role authorization of :mod:`byok_shared.natsauth` on,
provisions the streams and buckets as the operator (:mod:`byok_shared.provision`),
then starts each service as its own process under its own NATS user, streams
their logs with a name prefix, waits until all five answer health and says so.
Ctrl-C (or SIGTERM) stops the services, then the server, and leaves nothing
running.

Authorization is on by default: anonymous connections are refused. The clear
passwords stay in ``<BYOK_DATA_DIR>/nats-auth/`` (0600; the server config holds
bcrypt hashes), where the ``byok`` command and ``ByokClient.connect()`` on this
machine find them. ``BYOK_NATS_AUTH=0`` is the only way to turn it off, and says
so loudly.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import nats

from byok_contracts import subjects

from .natsauth import ROLES, inbox_prefix
from .natsconfig import (
    auth_dir,
    load_passwords,
    service_env,
    write_local_credentials,
    write_server_config,
)
from .natsserver import NatsCluster, NatsServer, local_cluster
from .openbao import OpenBao, embedded_for
from .ports import free_port, port_open
from .provision import provision
from .settings import ByokSettings, parse_server_urls

__all__ = ["ProvisioningFailed", "Stack", "auth_enabled", "main", "wait_healthy"]

_COLOURS = ("36", "35", "33", "32", "34", "31")


def module_of(service: str) -> str:
    return "byok_" + service.replace("-", "_")


def auth_enabled(environ: Mapping[str, str] | None = None) -> bool:
    """NATS authorization is on unless ``BYOK_NATS_AUTH`` explicitly says off."""
    value = (os.environ if environ is None else environ).get("BYOK_NATS_AUTH", "")
    return value.strip().lower() not in ("0", "false", "no", "off")


async def wait_healthy(
    url: str | Sequence[str],
    services: Sequence[str],
    timeout: float = 60.0,
    dead: Callable[[], list[str]] | None = None,
    connect: Mapping[str, Any] | None = None,
) -> None:
    """Return once every service answers ``byok.v1.health.<service>``.

    ``url`` is one URL, a comma-separated list or a list of servers.
    ``dead`` names processes that already exited: waiting for them is pointless.
    ``connect`` adds ``nats.connect`` options (a user and password under authorization).
    """
    deadline = time.monotonic() + timeout
    pending = list(services)
    servers = parse_server_urls(url) if isinstance(url, str) else list(url)
    nc = await nats.connect(
        servers, max_reconnect_attempts=-1, connect_timeout=2, **(connect or {})
    )
    try:
        while pending:
            if time.monotonic() > deadline:
                raise TimeoutError(f"not healthy after {timeout:.0f}s: {', '.join(pending)}")
            exited = dead() if dead is not None else []
            if exited:
                raise TimeoutError(f"exited during start: {', '.join(exited)}")
            for service in list(pending):
                try:
                    await nc.request(subjects.health(service), b"{}", timeout=0.5)
                    pending.remove(service)
                except Exception:  # noqa: S112 - not up yet; ask again
                    continue
            if pending:
                await asyncio.sleep(0.2)
    finally:
        await nc.close()


class ProvisioningFailed(RuntimeError):
    """``make run`` could not create or check the streams and buckets."""


class Stack:
    """The embedded server and one process per service."""

    def __init__(self, settings: ByokSettings, services: Sequence[str] = subjects.SERVICES) -> None:
        self.settings = settings
        self.services = list(services)
        self.server: NatsServer | None = None
        self.cluster: NatsCluster | None = None  # BYOK_NATS_NODES=3
        self.nodes = int(os.environ.get("BYOK_NATS_NODES") or 1)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.url = settings.nats_url or ""
        # On unless BYOK_NATS_AUTH=0: the server gets the generated authorization
        # (byok_shared.natsauth) and each service process connects as its own user.
        self.auth = auth_enabled()
        self.passwords: dict[str, str] = {}
        self.openbao: OpenBao | None = None  # BYOK_CIPHER=vault without VAULT_ADDR

    def start_server(self) -> None:
        if self.settings.nats_url:
            return
        port = 4222 if not port_open(4222) else free_port()
        data = self.settings.data_dir.resolve()
        config = os.environ.get("BYOK_NATS_CONFIG")
        if self.auth:
            config = str(write_server_config(data)[0])
        if self.nodes > 1:
            self.cluster = local_cluster(data, self.nodes, Path(config) if config else None)
            self.url = self.cluster.url
            return
        for attempt in range(3):  # 4222 (or a free port) may be taken before we bind it
            server = NatsServer(
                store_dir=data / "nats",
                port=port,
                config_file=Path(config) if config else None,
                log_file=data / "nats-server.log",
            )
            try:
                self.server = server.start()
                break
            except RuntimeError:
                if attempt == 2:
                    raise
                port = free_port()
        self.url = server.url

    @property
    def manages_auth(self) -> bool:
        """Whether this stack holds every role's password: its own server, or
        ``BYOK_NATS_PASSWORD_<ROLE>`` given for each role of an external one."""
        if not self.auth:
            return False
        return not self.settings.nats_url or all(
            os.environ.get(role.password_env) for role in ROLES.values()
        )

    def client_options(self, role: str) -> dict[str, Any]:
        """``nats.connect`` options for ``role`` (empty without authorization)."""
        if not self.manages_auth:
            return {}
        return {
            "user": role,
            "password": self.passwords[role],
            "inbox_prefix": inbox_prefix(role),
        }

    def env(self, service: str | None = None) -> dict[str, str]:
        env = dict(os.environ)
        if self.manages_auth and service is not None:
            env.update(service_env(service, self.passwords))
        env["BYOK_NATS_URL"] = self.url
        if self.cluster is not None:  # R3 (or the cluster's size) unless chosen otherwise
            env.setdefault("BYOK_STREAM_REPLICAS", str(min(self.nodes, 3)))
        env.setdefault("BYOK_LOG_FORMAT", "text")
        if self.openbao is not None:
            env.update(self.openbao.service_env(service))
        env["BYOK_DATA_DIR"] = str(self.settings.data_dir.resolve())
        if self.settings.metrics_port is not None and service in self.services:
            # One machine, five processes: BYOK_METRICS_PORT is the first of five ports.
            env["BYOK_METRICS_PORT"] = str(
                self.settings.metrics_port + self.services.index(service)
            )
        return env

    def start_service(self, service: str, index: int) -> None:
        proc = subprocess.Popen(
            [sys.executable, "-m", module_of(service)],
            env=self.env(service),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs[service] = proc
        colour = _COLOURS[index % len(_COLOURS)]
        tag = (
            f"\033[{colour}m{service:>13}\033[0m | " if sys.stdout.isatty() else f"{service:>13} | "
        )
        threading.Thread(target=_pump, args=(proc, tag), daemon=True).start()

    def provision(self) -> list[str]:
        """Create or update streams and buckets as the operator, before any service."""
        update: dict[str, Any] = {"nats_url": self.url}
        if self.cluster is not None and "BYOK_STREAM_REPLICAS" not in os.environ:
            update["stream_replicas"] = min(self.nodes, 3)  # R3 on a local cluster
        settings = self.settings.model_copy(update=update)
        try:
            return asyncio.run(provision(settings, **self.client_options("operator")))
        except Exception as exc:
            raise ProvisioningFailed(
                f"could not provision streams and buckets on {self.url} ({type(exc).__name__}); "
                "the provisioning step connects as the operator (BYOK_NATS_USER=operator and "
                "BYOK_NATS_PASSWORD, or BYOK_NATS_PASSWORD_<ROLE> for every role)"
            ) from exc

    def start(self) -> None:
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        if self.manages_auth:
            self.passwords = load_passwords(self.settings.data_dir.resolve())
        self.start_server()
        if self.manages_auth:
            write_local_credentials(
                self.settings.data_dir.resolve(), self.passwords, parse_server_urls(self.url)
            )
        for line in self.provision():
            print(f"byok: {line}", flush=True)
        self.openbao = embedded_for(self.settings)
        for index, service in enumerate(self.services):
            self.start_service(service, index)

    def start_gateway(self, timeout: float = 30.0) -> str:
        """The HTTP gateway on 127.0.0.1:``BYOK_HTTP_PORT`` (8080, or a free port if taken)."""
        wanted = int(os.environ.get("BYOK_HTTP_PORT", "8080"))
        port = wanted if not port_open(wanted) else free_port()
        os.environ["BYOK_HTTP_PORT"] = str(port)
        self.start_service("gateway", len(self.services))
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.dead():
            try:
                with urllib.request.urlopen(f"{url}/healthz", timeout=1) as reply:  # noqa: S310
                    if reply.status == 200:
                        return url
            except OSError:
                time.sleep(0.2)
        raise TimeoutError("the HTTP gateway did not start")

    def dead(self) -> list[str]:
        return [name for name, proc in self.procs.items() if proc.poll() is not None]

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self.server is not None:
            self.server.stop()
        if self.cluster is not None:
            self.cluster.stop()
        if self.openbao is not None:
            self.openbao.stop()


def _pump(proc: subprocess.Popen[bytes], tag: str) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        sys.stdout.write(tag + line.decode("utf-8", "replace"))
        sys.stdout.flush()


def main() -> int:
    settings = ByokSettings()
    stack = Stack(settings)
    stopping = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    if not stack.auth:
        print(
            "byok: WARNING: BYOK_NATS_AUTH=0: NATS authorization is OFF. Any local process "
            "can unseal every stored key and grant itself credits. Use it only to debug.",
            file=sys.stderr,
            flush=True,
        )
    try:
        try:
            stack.start()
        except ProvisioningFailed as exc:
            print(f"byok: {exc}", file=sys.stderr, flush=True)
            return 1
        print(f"byok: NATS at {stack.url}; starting {len(stack.services)} services", flush=True)
        if stack.openbao is not None:
            print(f"byok: OpenBao at {stack.openbao.url}, data in {stack.openbao.home}", flush=True)
        if stack.manages_auth:
            store = auth_dir(stack.settings.data_dir)
            print(
                f"byok: NATS authorization on (anonymous connections refused); "
                f"client credentials in {store} (the byok command finds them)",
                flush=True,
            )
        try:
            asyncio.run(
                wait_healthy(
                    stack.url,
                    stack.services,
                    dead=stack.dead,
                    connect=stack.client_options("backend"),
                )
            )
        except TimeoutError as exc:
            print(f"byok: {exc}", flush=True)
            return 1
        try:
            http = stack.start_gateway()
        except TimeoutError as exc:
            print(f"byok: {exc}", flush=True)
            return 1
        print(
            f"byok: all {len(stack.services)} services healthy "
            f"({', '.join(stack.services)}); HTTP gateway at {http}; Ctrl-C to stop",
            flush=True,
        )
        while not stopping.wait(0.5):
            dead = stack.dead()
            if dead:
                print(f"byok: {', '.join(dead)} exited; stopping", flush=True)
                return 1
        return 0
    finally:
        print("byok: stopping", flush=True)
        stack.stop()
        print("byok: stopped", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
