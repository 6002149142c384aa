"""`make run` is secure by default: anonymous clients are refused, the CLI still works.

Issue 10, item 1: the default stack used to start NATS with no users, so any
local process could unseal every key or grant itself credits. Now the embedded
server runs the generated per-role authorization unless ``BYOK_NATS_AUTH=0``,
and the ``byok`` command finds the credentials ``make run`` keeps under
``BYOK_DATA_DIR`` without any extra step.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest

from byok_client import ByokClient
from byok_contracts import Unavailable, subjects
from byok_shared import natsconfig
from byok_shared.natsserver import NatsServer
from byok_shared.ports import free_port
from byok_shared.settings import parse_server_urls
from byok_shared.stack import auth_enabled, wait_healthy
from byok_shared.testing.processes import isolated_env
from byok_shared.testing.stack_process import StackProcess

BYOK = str(Path(sys.executable).parent / "byok")


def _clean_env(data: Path) -> dict[str, str]:
    return isolated_env(BYOK_DATA_DIR=str(data))


@pytest.fixture(scope="module")
def default_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """``python -m byok_shared.stack`` with nothing set but the data dir, as a newcomer runs it."""
    data = tmp_path_factory.mktemp("stack") / "data"
    stack = StackProcess(data).start()
    try:
        text = stack.wait_healthy()
        match = re.search(r"NATS at (nats://\S+?);", text)
        assert match, text
        assert "authorization on" in text
        assert "WARNING" not in text
        yield match.group(1), data
    finally:
        stack.stop()


def _byok(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BYOK, *args], env=_clean_env(data), capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.slow
@pytest.mark.timeout(180)
async def test_default_stack_refuses_anonymous_clients(default_stack: tuple[str, Path]) -> None:
    url, _ = default_stack
    with pytest.raises(Exception, match=r"[Aa]uthorization"):
        await nats.connect(url, allow_reconnect=False, max_reconnect_attempts=0, connect_timeout=2)
    for user, password in (("backend", "guess"), ("operator", ""), ("root", "root")):
        with pytest.raises(Exception, match=r"[Aa]uthorization"):
            await nats.connect(
                url, user=user, password=password, allow_reconnect=False, max_reconnect_attempts=0
            )


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_the_cli_just_works_on_the_default_stack(default_stack: tuple[str, Path]) -> None:
    _, data = default_stack
    health = _byok(data, "health")
    assert health.returncode == 0, health.stderr
    assert set(json.loads(health.stdout)) == set(subjects.SERVICES)
    balance = _byok(data, "ledger", "balance", "acme")  # as backend
    assert balance.returncode == 0, balance.stderr
    assert json.loads(balance.stdout)["status"] == "ok"
    rotate = _byok(data, "keys", "rotate", "--sealing-only")  # as operator
    assert rotate.returncode == 0, rotate.stderr


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_credentials_on_disk_are_private_and_the_server_holds_only_hashes(
    default_stack: tuple[str, Path],
) -> None:
    _, data = default_stack
    auth = data / "nats-auth"
    files = sorted(auth.iterdir())
    assert {p.name for p in files} >= {"auth.conf", "passwords.json", "backend.json"}
    for path in files:
        assert path.stat().st_mode & 0o777 == 0o600, path
    assert auth.stat().st_mode & 0o077 == 0
    passwords = json.loads((auth / "passwords.json").read_text())
    config = (auth / "auth.conf").read_text()
    assert not [role for role, password in passwords.items() if password in config]
    # services get their own passwords in their environment: no file per service
    assert not (auth / "key-vault.json").exists()


@pytest.mark.slow
@pytest.mark.timeout(180)
async def test_byok_client_connect_finds_the_local_credentials(
    default_stack: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, data = default_stack
    for name in [k for k in os.environ if k.startswith("BYOK_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("BYOK_DATA_DIR", str(data))
    async with await ByokClient.connect() as backend:
        assert (await backend.balance("acme")).status == "ok"
    # a runtime's credentials do not open the backend's subjects
    async with await ByokClient.connect(role="runtime", timeout=1) as runtime:
        with pytest.raises(Unavailable):
            await runtime.balance("acme")
    # a comma-separated list works wherever a URL is read
    await wait_healthy(
        f"nats://127.0.0.1:1,{url}",
        ["resolver"],
        timeout=20,
        connect={
            "user": "backend",
            "password": json.loads((data / "nats-auth" / "passwords.json").read_text())["backend"],
            "inbox_prefix": "_INBOX_backend",
        },
    )


def test_auth_is_on_unless_explicitly_off() -> None:
    assert auth_enabled({})
    assert auth_enabled({"BYOK_NATS_AUTH": ""})
    assert auth_enabled({"BYOK_NATS_AUTH": "1"})
    for off in ("0", "false", "no", "off", "OFF"):
        assert not auth_enabled({"BYOK_NATS_AUTH": off})


def test_server_urls_accept_a_comma_separated_cluster() -> None:
    urls = "nats://a:4222, nats://b:4222,,nats://c:4222 "
    assert parse_server_urls(urls) == ["nats://a:4222", "nats://b:4222", "nats://c:4222"]
    assert parse_server_urls(None) == []


async def test_an_unreachable_first_server_is_skipped(nats_server: NatsServer) -> None:
    servers = f"nats://127.0.0.1:1,{nats_server.url}"
    async with await ByokClient.connect(servers, timeout=1) as client:
        with pytest.raises(Unavailable, match="No service answers"):
            await client.health("resolver")  # connected (no responders), not a connect error


@pytest.mark.timeout(120)
def test_opting_out_warns_and_a_failed_provisioning_says_what_to_do(tmp_path: Path) -> None:
    env = _clean_env(tmp_path / "data") | {
        "BYOK_NATS_AUTH": "0",
        "BYOK_NATS_URL": f"nats://127.0.0.1:{free_port()}",  # nobody listens
    }
    result = subprocess.run(
        [sys.executable, "-m", "byok_shared.stack"],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert result.returncode == 1
    assert "WARNING: BYOK_NATS_AUTH=0: NATS authorization is OFF" in result.stderr
    assert "could not provision streams and buckets" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_a_tenant_runtime_is_recorded_issued_and_given_private_credentials(
    tmp_path: Path,
) -> None:
    assert natsconfig.main(["tenant", "tenant-a", "acme", "beta", "--data-dir", str(tmp_path)]) == 0
    assert natsconfig.main(["tenant", "tenant-b", "*", "--data-dir", str(tmp_path)]) == 2
    roles = natsconfig.load_roles(tmp_path)
    assert "tenant-b" not in roles
    tenant = roles["tenant-a"]
    assert tenant.publish[:2] == ("byok.v1.resolve.acme", "byok.v1.resolve.beta")
    path, passwords = natsconfig.write_server_config(tmp_path)
    assert '"tenant-a"' in path.read_text()
    natsconfig.write_local_credentials(tmp_path, passwords, ["nats://127.0.0.1:4222"])
    creds = natsconfig.local_credentials(tmp_path, "tenant-a")
    assert creds is not None
    assert creds.inbox_prefix == "_INBOX_tenant-a"
    for name in ("tenants.json", "tenant-a.json", "auth.conf", "passwords.json"):
        assert (tmp_path / "nats-auth" / name).stat().st_mode & 0o777 == 0o600


def test_a_server_whose_port_is_taken_fails_instead_of_adopting_the_other(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    """make run would otherwise hand its passwords to whatever listens on 4222."""
    squatter = NatsServer(store_dir=tmp_path / "js2", port=nats_server.port)
    with pytest.raises(RuntimeError, match="exited"):
        squatter.start()


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_make_run_and_the_cli_on_an_external_comma_separated_url(
    tmp_path: Path, nats_server: NatsServer
) -> None:
    """Issue 11, item 1: ``BYOK_NATS_URL=a,b make run`` crashed at start (the raw list went
    to ``nats.connect``). Two URLs of one server, as a cluster's would be given."""
    data = tmp_path / "data"
    port = nats_server.url.rsplit(":", 1)[1]
    env = _clean_env(data) | {
        "BYOK_NATS_AUTH": "0",  # an external server without users: not what this is about
        "BYOK_NATS_URL": f"{nats_server.url}, nats://localhost:{port}",
    }
    stack = StackProcess(data, env).start()
    try:
        assert "all 5 services healthy" in stack.wait_healthy()
        health = subprocess.run(
            [BYOK, "health"], env=env, capture_output=True, text=True, timeout=60, check=False
        )
        assert health.returncode == 0, health.stderr
        assert set(json.loads(health.stdout)) == set(subjects.SERVICES)
    finally:
        code = stack.stop()
    assert code == 0, stack.text()[-4000:]
    assert "Traceback" not in stack.text()
