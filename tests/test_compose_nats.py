"""compose.yaml's NATS cluster: route TLS and authorization, bcrypt users, init jobs, ports.

Docker is not available where the tests run: the structure is read from the files,
and ``deploy/nats/cluster.conf`` itself runs on three real nats-server processes
(its ports and host names moved to free loopback ports), with a rogue node that
tries to join without the cluster's certificate or route secret.
"""

from __future__ import annotations

import asyncio
import functools
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from byok_contracts import subjects
from byok_shared.natsauth import ROLES, password_env
from byok_shared.natsconfig import generate_env, password_hash_env, render_config

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
NATS_NODES = ("nats-1", "nats-2", "nats-3")
ROUTE_ENV = {"BYOK_NATS_ROUTE_CA", "BYOK_NATS_ROUTE_CERT", "BYOK_NATS_ROUTE_KEY"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "compose.yaml").read_text())
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = compose["services"]
    assert isinstance(found, dict)
    return found


def test_three_nats_nodes_form_a_cluster_with_the_generated_users(
    services: dict[str, dict[str, Any]],
) -> None:
    names = []
    for node in NATS_NODES:
        spec = services[node]
        command = spec["command"]
        names.append(command[command.index("--name") + 1])
        config = command[command.index("--config") + 1]
        mounts = [v.split(":") for v in spec["volumes"]]
        config_dir = next(m for m in mounts if config.startswith(m[1]))
        assert (ROOT / config_dir[0] / Path(config).name).is_file()
        assert any(m[1] == "/data" for m in mounts), node
        assert ["nats-certs", "/etc/nats/secrets", "ro"] in mounts, node
        env = spec["environment"]
        # bcrypt hashes only: no node holds a password a client could log in with
        assert set(env) == {password_hash_env(role) for role in ROLES} | ROUTE_ENV
        assert env["BYOK_NATS_ROUTE_CERT"] == f"/etc/nats/secrets/{node}.pem"
        assert env["BYOK_NATS_ROUTE_KEY"] == f"/etc/nats/secrets/{node}-key.pem"
        assert spec["depends_on"]["nats-certs"]["condition"] == "service_completed_successfully"
    assert names == list(NATS_NODES)
    cluster = (DEPLOY / "nats" / "cluster.conf").read_text()
    assert "store_dir: /data" in cluster
    assert "include ./auth.conf" in cluster
    assert "include ./secrets/routes.conf" in cluster  # route user and routes, made at init
    assert re.search(r"tls \{[^}]*verify: true", cluster)


def test_route_certificates_and_provisioning_are_init_jobs(
    services: dict[str, dict[str, Any]],
) -> None:
    certs = services["nats-certs"]
    assert certs["command"][:3] == ["python", "-m", "byok_shared.natscerts"]
    assert certs["command"][4:] == list(NATS_NODES)
    assert certs["restart"] == "no"
    provision = services["provision"]
    assert provision["command"] == ["python", "-m", "byok_shared.provision"]
    assert provision["environment"]["BYOK_NATS_USER"] == "operator"
    assert provision["environment"]["BYOK_STREAM_REPLICAS"] == "3"
    for name in subjects.SERVICES:
        condition = services[name]["depends_on"]["provision"]["condition"]
        assert condition == "service_completed_successfully", name


def test_host_ports_are_bound_to_loopback_only(services: dict[str, dict[str, Any]]) -> None:
    published = {name: spec["ports"] for name, spec in services.items() if "ports" in spec}
    assert published  # NATS, Prometheus and Grafana are reachable from the host...
    for name, ports in published.items():
        for port in ports:
            assert str(port).startswith("127.0.0.1:"), (name, port)  # ...from it only


def test_grafana_has_no_anonymous_access_and_no_default_admin(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    env = services["grafana"]["environment"]
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    assert "GF_AUTH_ANONYMOUS_ORG_ROLE" not in env
    assert "GF_SECURITY_ADMIN_PASSWORD" not in env  # no admin/admin fallback, no clear value
    assert env["GF_SECURITY_ADMIN_PASSWORD__FILE"] == "/run/secrets/grafana_admin_password"
    assert env["GF_SECURITY_ADMIN_USER"] != "admin"
    assert services["grafana"]["secrets"] == ["grafana_admin_password"]
    assert compose["secrets"]["grafana_admin_password"] == {"environment": "GRAFANA_ADMIN_PASSWORD"}


def test_generated_env_has_every_secret_compose_needs() -> None:
    import bcrypt

    env = dict(line.split("=", 1) for line in generate_env().splitlines())
    for role in ROLES:
        password, hashed = env[password_env(role)], env[password_hash_env(role)]
        # single-quoted: compose leaves the $ alone; double-quoted: so does nats-server
        assert hashed.startswith("'\"$2")
        assert hashed.endswith("\"'")
        assert bcrypt.checkpw(password.encode(), hashed.strip("'\"").encode())
    assert len(env["GRAFANA_ADMIN_PASSWORD"]) >= 16


def test_committed_nats_authorization_is_the_generator_output() -> None:
    committed = (DEPLOY / "nats" / "auth.conf").read_text()
    assert committed == render_config(hashed=True), (
        "deploy/nats/auth.conf is stale: run "
        "`uv run python -m byok_shared.natsauth compose --bcrypt > deploy/nats/auth.conf`"
    )
    assert "$BYOK_NATS_PASSWORD_HASH_" in committed
    passwords = re.findall(r"password: (\S+)", committed)
    assert passwords == [f"${password_hash_env(role)}" for role in ROLES]


@functools.cache
def _hashes() -> dict[str, str]:
    """What .env gives the nodes, quoted like generate_env (a low cost: only test speed)."""
    import bcrypt

    return {
        password_hash_env(role): '"{}"'.format(
            bcrypt.hashpw(f"pw-{role}".encode(), bcrypt.gensalt(4)).decode()
        )
        for role in ROLES
    }


def _node_env(secrets: Path, node: str) -> dict[str, str]:
    return _hashes() | {
        "BYOK_NATS_ROUTE_CA": str(secrets / "ca.pem"),
        "BYOK_NATS_ROUTE_CERT": str(secrets / f"{node}.pem"),
        "BYOK_NATS_ROUTE_KEY": str(secrets / f"{node}-key.pem"),
        "PATH": "/usr/bin:/bin",
    }


def _secrets(base: Path, nodes: list[str]) -> Path:
    """What the nats-certs job makes, beside a copy of deploy/nats (as compose mounts it)."""
    from byok_shared.natscerts import make_cluster_certs, write_route_auth

    config = base / "etc-nats"
    config.mkdir(parents=True)
    for name in ("cluster.conf", "auth.conf"):
        (config / name).write_text((DEPLOY / "nats" / name).read_text())
    make_cluster_certs(config / "secrets", nodes)
    write_route_auth(config / "secrets", nodes)
    return config / "secrets"


def test_nats_cluster_config_is_valid_for_nats_server(tmp_path: Path) -> None:
    from byok_shared.natsserver import nats_server_binary

    certs = _secrets(tmp_path, list(NATS_NODES))
    result = subprocess.run(
        [nats_server_binary(), "-c", str(certs.parent / "cluster.conf"), "-t"],
        capture_output=True,
        env=_node_env(certs, "nats-1"),
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()


def _deploy_node(
    base: Path, node: str, ports: dict[str, dict[str, int]], secrets: Path, routes: str
) -> Path:
    """compose's ``/etc/nats`` for ``node``: ``deploy/nats`` and the init job's secrets
    (``routes`` as its routes.conf), with ports and peers moved to loopback."""
    import shutil

    config = base / node
    shutil.copytree(secrets, config / "secrets")
    for peer, theirs in ports.items():
        routes = routes.replace(f"@{peer}:6222", f"@127.0.0.1:{theirs['route']}")
    (config / "secrets" / "routes.conf").write_text(routes)
    (config / "auth.conf").write_text((DEPLOY / "nats" / "auth.conf").read_text())
    text = (DEPLOY / "nats" / "cluster.conf").read_text()
    mine = ports[node]
    text = text.replace("port: 4222", f"port: {mine['client']}")
    text = text.replace("http_port: 8222", f"http_port: {mine['http']}")
    text = text.replace("port: 6222", f"port: {mine['route']}")
    text = text.replace("store_dir: /data", "")  # NatsServer passes -sd
    (config / "cluster.conf").write_text(text)
    return config / "cluster.conf"


def _jsz(port: int) -> dict[str, Any]:
    import json
    from urllib.request import urlopen

    try:
        with urlopen(f"http://127.0.0.1:{port}/jsz", timeout=5) as reply:
            data: dict[str, Any] = json.loads(reply.read())
    except OSError:  # busy: ask again
        return {}
    return data


def _routes(port: int) -> set[str]:
    import json
    from urllib.request import urlopen

    with urlopen(f"http://127.0.0.1:{port}/routez", timeout=10) as reply:
        return {r.get("remote_name", "") for r in json.loads(reply.read()).get("routes") or []}


@pytest.mark.slow
@pytest.mark.timeout(180)
async def test_the_deploy_cluster_config_runs_and_refuses_a_rogue_node(tmp_path: Path) -> None:
    """Three nodes from compose's own config form the cluster over TLS routes; the users
    log in with their passwords (the nodes hold only hashes); a node without the CA's
    certificate, or with it but without the route secret, never joins."""
    import time

    import nats
    import nats.errors

    from byok_shared.natsserver import NatsServer
    from byok_shared.ports import free_port

    nodes = [*NATS_NODES, "rogue"]
    ports = {n: {"client": free_port(), "http": free_port(), "route": free_port()} for n in nodes}
    secrets = _secrets(tmp_path / "init", list(NATS_NODES))
    routes = (secrets / "routes.conf").read_text()
    servers = []

    def node_server(name: str, config: Path, env: dict[str, str]) -> NatsServer:
        return NatsServer(
            store_dir=config.parent / "data",
            port=ports["rogue" if name.startswith("rogue") else name]["client"],
            config_file=config,
            log_file=config.parent / "nats.log",
            args=["--name", name],  # as compose's command does
            env=env,
        )

    try:
        for node in NATS_NODES:
            config = _deploy_node(tmp_path, node, ports, secrets, routes)
            servers.append(node_server(node, config, _node_env(config.parent / "secrets", node)))
        for server in servers:
            server.start()
        deadline = time.monotonic() + 45
        while not _jsz(ports["nats-1"]["http"]).get("meta_cluster", {}).get("leader"):
            assert time.monotonic() < deadline, "no meta leader over the TLS routes"
            await asyncio.sleep(0.1)
        urls = [f"nats://127.0.0.1:{ports[n]['client']}" for n in NATS_NODES]
        nc = await nats.connect(urls, user="operator", password="pw-operator")
        await nc.flush()  # logged in: the nodes checked the password against its hash
        await nc.close()
        with pytest.raises((nats.errors.Error, OSError)):  # refused: not the hashed password
            await nats.connect(urls[0], user="operator", password="wrong", allow_reconnect=False)

        # A rogue node: the route secret but a certificate from another CA, then the
        # cluster's own CA and certificate but a guessed route secret. Never routed to.
        other = _secrets(tmp_path / "other-init", ["rogue"])
        guessed = re.sub(r"route:[^@]+@", "route:guessed@", routes)
        attempts = [(other, routes), (secrets, guessed)]
        for index, (material, rogue_routes) in enumerate(attempts):
            config = _deploy_node(
                tmp_path / f"rogue{index}", "rogue", ports, material, rogue_routes
            )
            cert = "rogue" if material == other else "nats-1"
            env = _node_env(config.parent / "secrets", cert)
            rogue = node_server(f"rogue{index}", config, env)
            rogue.start()
            try:
                await asyncio.sleep(3)  # several route attempts
                for node in NATS_NODES:
                    assert _routes(ports[node]["http"]) <= set(NATS_NODES), node
            finally:
                rogue.stop()
    finally:
        for server in servers:
            server.stop()
