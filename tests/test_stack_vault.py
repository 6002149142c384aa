"""``BYOK_CIPHER=vault make run`` without ``VAULT_ADDR``: an embedded OpenBao, one command.

The stack starts ``bao`` with persistent storage under ``BYOK_DATA_DIR``; the first
start initialises it, the second unseals it with the stored key, and a key stored
before the restart still resolves. The unseal material and key-vault's token are
mode 0600, the root token is gone, and no service but key-vault learns where the
token is (nor any process its value).
"""

from __future__ import annotations

import json
import stat
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from byok_client import ByokClient
from byok_shared.natsserver import NatsServer
from byok_shared.testing.fake_providers import FakeProviders
from byok_shared.testing.polling import retrying
from byok_shared.testing.stack_process import make_run, processes_with, wait_processes_gone

KEY = "sk-ant-api03-embedded-openbao-" + "E" * 50
ACCOUNT = "acme"


@pytest.mark.slow
@pytest.mark.vault
@pytest.mark.timeout(360)
async def test_vault_cipher_with_one_command_persists_across_restarts(
    tmp_path: Path, nats_server: NatsServer
) -> None:
    data = tmp_path / "stack-data"
    home = data / "openbao"
    chain: list[Any] = ["workspace:embedded"]
    with FakeProviders() as fake:
        fake.add_key(KEY)
        env = {f"BYOK_{k.upper()}": v for k, v in fake.settings_overrides().items()}
        env |= {
            "BYOK_DATA_DIR": str(data),
            "BYOK_CIPHER": "vault",
            "BYOK_NATS_URL": nats_server.url,  # the bus is not what this test is about
            "BYOK_NATS_AUTH": "0",
        }
        with make_run(env) as text:
            assert "OpenBao at http://127.0.0.1:" in text
            token = (home / "key-vault.token").read_text().strip()
            material = json.loads((home / "init.json").read_text())
            assert set(material) == {"unseal_keys_b64"}  # the root token was revoked
            for path in (home / "init.json", home / "key-vault.token"):
                assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
            assert stat.S_IMODE(home.stat().st_mode) == 0o700
            processes = processes_with(str(data))
            assert any("bao server" in cmd for cmd, _ in processes.values())
            told = [cmd for cmd, env_ in processes.values() if b"BYOK_VAULT_TOKEN_FILE=" in env_]
            assert len(told) == 1
            assert "byok_key_vault" in told[0]
            assert all(token.encode() not in env_ for _, env_ in processes.values())
            async with await ByokClient.connect(nats_server.url, account=ACCOUNT) as client:
                configured = await client.configure("workspace:embedded", KEY, account=ACCOUNT)
                route = await retrying(partial(client.resolve, ACCOUNT, chain, "anthropic"), 60)
                assert (route.key_id, route.api_key) == (configured.key_id, KEY)
        wait_processes_gone(str(data))  # nothing left running after Ctrl-C

        with make_run(env):  # second start: unseal with the stored key, same token
            assert json.loads((home / "init.json").read_text()) == material
            assert (home / "key-vault.token").read_text().strip() == token
            async with await ByokClient.connect(nats_server.url, account=ACCOUNT) as client:
                # "services healthy" is health answered; nats-server may still say "no
                # responders" on resolve for a moment after the new replica subscribed.
                route = await retrying(partial(client.resolve, ACCOUNT, chain, "anthropic"), 60)
                assert (route.key_id, route.api_key) == (configured.key_id, KEY)
        wait_processes_gone(str(data))
    assert KEY.encode() not in b"".join(p.read_bytes() for p in home.rglob("*") if p.is_file())
