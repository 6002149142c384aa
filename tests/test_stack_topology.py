"""``BYOK_NATS_NODES=3 BYOK_CIPHER=vault make run``: the production topology, one command.

A local 3-node JetStream cluster (routes with TLS and authorization, streams and
buckets at R3), an embedded OpenBao with persistent storage, and the five services
plus the HTTP gateway, each process under its own NATS user. A key configured by
the backend resolves for the runtime, usage is counted, a removed key answers 404
``no_key``; anonymous clients are refused; the key is on no disk; Ctrl-C leaves
nothing running.
"""

from __future__ import annotations

import asyncio
import re
import time
from functools import partial
from pathlib import Path
from typing import Any

import nats
import pytest

from byok_client import ByokClient, NotFound, Resolution, Unavailable
from byok_contracts import subjects
from byok_shared import natsconfig
from byok_shared.jetstream import BUCKET_KEYS, STREAM_LEDGER
from byok_shared.stack import module_of
from byok_shared.testing.fake_providers import FakeProviders
from byok_shared.testing.polling import eventually, retrying
from byok_shared.testing.stack_process import make_run, processes_with, wait_processes_gone

KEY = "sk-ant-api03-three-node-topology-" + "T" * 48
ACCOUNT = "acme"
SCOPE = "workspace:topology"
NODES = {"n1", "n2", "n3"}


def _environ(raw: bytes) -> dict[str, str]:
    pairs = (item.decode(errors="replace").partition("=") for item in raw.split(b"\0") if item)
    return {name: value for name, _, value in pairs}


def _credentials(data: Path, role: str) -> natsconfig.LocalCredentials:
    creds = natsconfig.local_credentials(data, role)
    assert creds is not None, f"make run wrote no credentials for {role}"
    return creds


async def _connect(data: Path, role: str) -> ByokClient:
    creds = _credentials(data, role)
    return await ByokClient.connect(
        creds.servers,
        user=creds.user,
        password=creds.password,
        inbox_prefix=creds.inbox_prefix,
        account=ACCOUNT,
    )


def _check_processes(data: Path) -> None:
    """Three nats-servers, one bao server; each service (and the gateway) its own user;
    only key-vault knows where the Vault token is, and no process holds its value."""
    processes = processes_with(str(data))
    commands = [cmd for cmd, _ in processes.values()]
    assert sum("nats-server" in cmd for cmd in commands) == 3, commands
    assert sum("bao server" in cmd for cmd in commands) == 1, commands
    token = (data / "openbao" / "key-vault.token").read_text().strip()
    users: dict[str, str] = {}
    passwords: set[str] = set()
    told = []
    for cmd, raw in processes.values():
        assert token.encode() not in raw, cmd
        env = _environ(raw)
        if "BYOK_VAULT_TOKEN_FILE" in env:
            told.append(cmd)
        for service in (*subjects.SERVICES, "gateway"):
            if cmd.rstrip().endswith(f"-m {module_of(service)}"):
                assert service not in users, f"two processes for {service}"
                users[service] = env.get("BYOK_NATS_USER", "")
                passwords.add(env.get("BYOK_NATS_PASSWORD", ""))
                assert env.get("BYOK_NATS_INBOX_PREFIX") == f"_INBOX_{service}", cmd
                assert len(env["BYOK_NATS_URL"].split(",")) == 3, env["BYOK_NATS_URL"]
    assert users == {s: s for s in (*subjects.SERVICES, "gateway")}, users
    assert "" not in passwords
    assert len(passwords) == len(users)  # no two processes share a password
    assert len(told) == 1, told
    assert "byok_key_vault" in told[0]


async def _check_replicas(data: Path) -> None:
    """The ledger stream and the key bucket are R3 across the three nodes (as the operator)."""
    creds = _credentials(data, "operator")
    nc = await nats.connect(
        creds.servers, user=creds.user, password=creds.password, inbox_prefix=creds.inbox_prefix
    )
    try:
        js = nc.jetstream()
        for stream in (STREAM_LEDGER, f"KV_{BUCKET_KEYS}"):
            info = await js.stream_info(stream)
            assert info.config.num_replicas == 3, stream
            assert info.cluster is not None, stream
            peers = {info.cluster.leader, *(r.name for r in info.cluster.replicas or [])}
            assert peers == NODES, (stream, peers)
    finally:
        await nc.close()


async def _resolve_until(runtime: ByokClient, *, served: bool) -> Resolution | NotFound:
    """Resolve until the resolver's caches have caught up: a route (``served``) or a 404."""
    deadline = time.monotonic() + 60
    while True:
        try:
            route = await runtime.resolve(ACCOUNT, [SCOPE], "anthropic")
            if served:
                return route
        except NotFound as exc:
            if not served:
                return exc
        except Unavailable:
            pass
        assert time.monotonic() < deadline, f"{SCOPE}: {'never' if served else 'still'} served"
        await asyncio.sleep(0.1)


async def _refuses_anonymous(urls: list[str]) -> None:
    for url in urls:
        with pytest.raises(Exception, match=r"[Aa]uthorization"):
            await nats.connect(
                url, allow_reconnect=False, max_reconnect_attempts=0, connect_timeout=2
            )


def _files_holding(root: Path, needle: bytes) -> list[Path]:
    files = [path for path in root.rglob("*") if path.is_file()]
    assert len(files) > 10, files  # the stores, logs and credentials are there
    return [path for path in files if needle in path.read_bytes()]


@pytest.mark.slow
@pytest.mark.vault
@pytest.mark.timeout(600)
async def test_three_nodes_openbao_and_per_service_users_in_one_command(tmp_path: Path) -> None:
    data = tmp_path / "stack-data"
    chain: list[Any] = [SCOPE]
    with FakeProviders() as fake:
        fake.add_key(KEY)
        env = fake.env() | {
            "BYOK_DATA_DIR": str(data),
            "BYOK_CIPHER": "vault",
            "BYOK_NATS_NODES": "3",
        }
        with make_run(env, timeout=300) as text:
            match = re.search(r"NATS at (nats://\S+?);", text)
            assert match, text[-4000:]
            urls = match.group(1).split(",")
            assert len(urls) == 3, urls
            assert "authorization on" in text
            assert "OpenBao at http://127.0.0.1:" in text
            assert "byok: WARNING" not in text  # authorization was not turned off
            for role in ("backend", "runtime", "operator"):
                assert _credentials(data, role).servers == urls, role
            for node in sorted(NODES):  # routes with TLS and a route user
                conf = (data / "nats-cluster" / node / "server.conf").read_text()
                assert "tls {" in conf, conf
                assert "verify: true" in conf, conf
                assert "authorization {" in conf, conf

            _check_processes(data)
            await _check_replicas(data)
            await _refuses_anonymous(urls)

            async with (
                await _connect(data, "backend") as backend,
                await _connect(data, "runtime") as runtime,
            ):
                configured = await retrying(partial(backend.configure, SCOPE, KEY), 60)
                route = await _resolve_until(runtime, served=True)
                assert isinstance(route, Resolution)
                assert (route.key_id, route.api_key) == (configured.key_id, KEY)
                await runtime.record_usage(
                    ACCOUNT, chain, route, input_tokens=1_000, output_tokens=100
                )

                async def counted() -> bool:
                    report = await backend.usage(scope=SCOPE)
                    return (report.calls, report.input_tokens) == (1, 1_000)

                await eventually(counted, 60, "the usage counted")
                await backend.remove(SCOPE, "anthropic")
                missing = await _resolve_until(runtime, served=False)
                assert isinstance(missing, NotFound)
                assert (missing.code, missing.error) == (404, "no_key")
        wait_processes_gone(str(data))  # nothing left running after Ctrl-C

    assert _files_holding(tmp_path, KEY.encode()) == []  # the stack's output too
