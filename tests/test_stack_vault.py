"""``BYOK_CIPHER=vault make run`` without ``VAULT_ADDR``: an embedded OpenBao, one command.

The stack starts ``bao`` with persistent storage under ``BYOK_DATA_DIR``; the first
start initialises it, the second unseals it with the stored key, and a key stored
before the restart still resolves. The unseal material and key-vault's token are
mode 0600, the root token is gone, and no service but key-vault learns where the
token is (nor any process its value).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from byok_client import ByokClient
from byok_shared.natsserver import NatsServer
from byok_shared.testing.fake_providers import FakeProviders

KEY = "sk-ant-api03-embedded-openbao-" + "E" * 50
ACCOUNT = "acme"


def our_processes(marker: str) -> dict[int, tuple[str, bytes]]:
    """pid -> (command line, environment) of processes whose environment names ``marker``."""
    found = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            environ = (proc / "environ").read_bytes()
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if marker.encode() in environ:
            found[int(proc.name)] = (cmdline, environ)
    return found


@contextmanager
def make_run(env: dict[str, str]) -> Iterator[list[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "byok_shared.stack"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "services healthy" in line:
                break
        assert any("all 5 services healthy" in line for line in lines), "".join(lines[-40:])
        yield lines
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=30)
        lines.append(rest)
        assert proc.returncode == 0, "".join(lines)[-4000:]
    finally:
        if proc.poll() is None:  # a failed assertion: stop it as Ctrl-C would, orphans none
            proc.send_signal(signal.SIGINT)
            try:
                proc.communicate(timeout=30)  # drained, so its output never blocks it
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.mark.slow
@pytest.mark.vault
@pytest.mark.timeout(180)
async def test_vault_cipher_with_one_command_persists_across_restarts(
    tmp_path: Path, nats_server: NatsServer
) -> None:
    data = tmp_path / "stack-data"
    home = data / "openbao"
    with FakeProviders() as fake:
        fake.add_key(KEY)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("BYOK_", "VAULT_"))}
        env |= {f"BYOK_{k.upper()}": v for k, v in fake.settings_overrides().items()}
        env |= {
            "BYOK_DATA_DIR": str(data),
            "BYOK_CIPHER": "vault",
            "BYOK_NATS_URL": nats_server.url,  # the bus is not what this test is about
            "BYOK_NATS_AUTH": "0",
        }
        with make_run(env) as lines:
            assert any("OpenBao at http://127.0.0.1:" in line for line in lines)
            token = (home / "key-vault.token").read_text().strip()
            material = json.loads((home / "init.json").read_text())
            assert set(material) == {"unseal_keys_b64"}  # the root token was revoked
            for path in (home / "init.json", home / "key-vault.token"):
                assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
            assert stat.S_IMODE(home.stat().st_mode) == 0o700
            processes = our_processes(str(data))
            assert any("bao server" in cmd for cmd, _ in processes.values())
            told = [cmd for cmd, env_ in processes.values() if b"BYOK_VAULT_TOKEN_FILE=" in env_]
            assert len(told) == 1
            assert "byok_key_vault" in told[0]
            assert all(token.encode() not in env_ for _, env_ in processes.values())
            async with await ByokClient.connect(nats_server.url, account=ACCOUNT) as client:
                configured = await client.configure("workspace:embedded", KEY, account=ACCOUNT)
                route = await client.resolve(ACCOUNT, ["workspace:embedded"], provider="anthropic")
                assert (route.key_id, route.api_key) == (configured.key_id, KEY)
        await asyncio.sleep(0.5)
        assert our_processes(str(data)) == {}, "processes left running after Ctrl-C"

        with make_run(env):  # second start: unseal with the stored key, same token
            assert json.loads((home / "init.json").read_text()) == material
            assert (home / "key-vault.token").read_text().strip() == token
            async with await ByokClient.connect(nats_server.url, account=ACCOUNT) as client:
                route = await client.resolve(ACCOUNT, ["workspace:embedded"], provider="anthropic")
                assert (route.key_id, route.api_key) == (configured.key_id, KEY)
        await asyncio.sleep(0.5)
        assert our_processes(str(data)) == {}
    assert KEY.encode() not in b"".join(p.read_bytes() for p in home.rglob("*") if p.is_file())
