"""The TypeScript client (@byok/client) against the real stack, and across languages.

A real nats-server with byok's authorization config, the five services in-process
under their own NATS users, fake LLM providers only. Python configures a key that
TypeScript must resolve; ``node --test`` runs clients/typescript/test as the
``backend`` and ``runtime`` roles; then Python resolves the key TypeScript
configured and opens a blob TypeScript sealed, byte for byte.
"""

from __future__ import annotations

import asyncio
import base64
import importlib
import json
import os
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydantic import SecretStr

from byok_client import ByokClient
from byok_contracts import Keypair, open_sealed, subjects
from byok_contracts.v1 import RemoveKey
from byok_shared.natsauth import ROLES, inbox_prefix
from byok_shared.natsconfig import render_config
from byok_shared.natsserver import NatsServer
from byok_shared.testing import running, settings_for
from byok_shared.testing.fake_providers import FakeProviders

ROOT = Path(__file__).resolve().parents[1]
TS = ROOT / "clients" / "typescript"
PASSWORDS = {name: f"pw-{name}-ts" for name in ROLES}
TENANCY = "account" in RemoveKey.model_fields  # 0.2: account on every write

PY_KEY = "sk-ant-api03-" + "PyThOnK3y0" * 4 + "-pyAA"
KEYS = {
    "ts_anthropic": "sk-ant-api03-" + "TyPeScRiPt" * 4 + "-tsAA",
    "ts_openai": "sk-proj-" + "TsOpenAiK3y" * 3,
    "ts_gemini": "AIzaSy" + "TsG3m1n1K3yV4lu3s012345",
    "rejected": "sk-ant-api03-" + "R3j3ct3dK3y" * 4 + "-noAA",
}


@dataclass
class Stack:
    server: NatsServer
    backend: ByokClient
    runtime: ByokClient

    def role(self, name: str) -> dict[str, str]:
        return {"user": name, "pass": PASSWORDS[name], "inboxPrefix": inbox_prefix(name)}


async def _client(server: NatsServer, role: str) -> ByokClient:
    return await ByokClient.connect(
        server.url,
        timeout=10.0,
        user=role,
        password=PASSWORDS[role],
        inbox_prefix=inbox_prefix(role),
    )


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    config = tmp_path / "auth.conf"
    config.write_text(render_config(PASSWORDS))
    server = NatsServer(
        store_dir=tmp_path / "js", config_file=config, log_file=tmp_path / "nats.log"
    )
    server.start()
    try:
        with FakeProviders() as fake:
            for key in (PY_KEY, KEYS["ts_anthropic"], KEYS["ts_openai"], KEYS["ts_gemini"]):
                fake.add_key(key, status="valid")
            fake.add_key(KEYS["rejected"], status="rejected")
            apps = []
            for service in subjects.SERVICES:
                module = importlib.import_module("byok_" + service.replace("-", "_") + ".app")
                settings = settings_for(
                    server.url,
                    tmp_path / "data",
                    nats_user=service,
                    nats_password=SecretStr(PASSWORDS[service]),
                    nats_inbox_prefix=inbox_prefix(service),
                    **fake.settings_overrides(),
                )
                apps.append(module.create_app(settings))
            async with running(*apps):
                backend = await _client(server, "backend")
                runtime = await _client(server, "runtime")
                try:
                    yield Stack(server, backend, runtime)
                finally:
                    await backend.close()
                    await runtime.close()
    finally:
        server.stop()


async def _run(*cmd: str, env: dict[str, str] | None = None, timeout: float = 240) -> str:
    proc = await asyncio.create_subprocess_exec(
        *cmd,
        cwd=TS,
        env={**os.environ, **(env or {})},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    text = out.decode()
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{text[-6000:]}"
    return text


def _tap_count(output: str, name: str) -> int:
    found = re.search(rf"^# {name} (\d+)$", output, re.MULTILINE)
    assert found, output[-3000:]
    return int(found.group(1))


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_typescript_client_against_the_stack_and_python(stack: Stack) -> None:
    if not (TS / "node_modules" / "@nats-io" / "transport-node").exists():
        pytest.fail("the TypeScript client's packages are not installed: run `make setup`")
    await _run("npm", "run", "--silent", "build")

    account = {"account": "acme-py"}
    python_key = await stack.backend.configure("workspace:py-ws", PY_KEY, **account)
    interop = Keypair.generate()
    vector = {
        "key": "sk-ant-interop-\u00e9",
        "public_key": interop.public_b64,
        "account": "acme-py",
        "scope": {"type": "workspace", "id": "py-ws"},
        "request_id": "req-1",
        "iat": 1_700_000_000,
    }
    env = {
        "BYOK_TS_STACK": json.dumps(
            {
                "url": stack.server.url,
                "roles": {"backend": stack.role("backend"), "runtime": stack.role("runtime")},
                "keys": KEYS,
                "tenancy": TENANCY,
                "python": {
                    "account": "acme-py",
                    "scope": "workspace:py-ws",
                    "key": PY_KEY,
                    "key_id": python_key.key_id,
                },
            }
        ),
        "BYOK_SEAL_INTEROP": json.dumps(vector),
    }
    output = await _run("node", "--test", "--test-reporter=tap", "test/", env=env)
    assert _tap_count(output, "fail") == 0
    assert _tap_count(output, "skipped") == 0, output[-3000:]
    assert _tap_count(output, "pass") >= 20

    # The other way round: the key TypeScript configured resolves in Python.
    route = await stack.runtime.resolve("acme-ts", ["workspace:ts-ws"], provider="anthropic")
    assert route.api_key == KEYS["ts_anthropic"]
    assert route.source == "byok"

    # A configure seal made in TypeScript opens in Python to the exact envelope bytes.
    (sealed,) = re.findall(r"TS_SEALED=([A-Za-z0-9+/=]+)", output)
    assert len(base64.b64decode(sealed, validate=True)) == 32 + 16 + len(_envelope(vector))
    assert open_sealed(sealed, interop.private_key, subjects.KEYS_CONFIGURE) == _envelope(vector)


def _envelope(vector: dict[str, object]) -> bytes:
    """The configure envelope as COORDINATION.md fixes it (compact JSON, this key order)."""
    body = {
        "v": 1,
        "key": vector["key"],
        "account": vector["account"],
        "scope": vector["scope"],
        "iat": vector["iat"],
        "request_id": vector["request_id"],
    }
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
