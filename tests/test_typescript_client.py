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
import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from byok_client import ByokClient
from byok_contracts import Keypair, open_sealed, subjects
from byok_contracts.v1 import RemoveKey
from byok_shared.natsauth import ROLES, inbox_prefix
from byok_shared.natsconfig import render_config
from byok_shared.natsserver import NatsServer
from byok_shared.provision import provision_blocking
from byok_shared.testing import running
from byok_shared.testing.fake_providers import FakeProviders
from byok_shared.testing.natsroles import service_apps

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
    bare: NatsServer
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
    server.start_anywhere()
    # the operator's provisioning step, as under `make run` (services only verify)
    provision_blocking(
        server.url,
        user="operator",
        password=PASSWORDS["operator"],
        inbox_prefix=inbox_prefix("operator"),
    )
    bare = NatsServer(store_dir=tmp_path / "bare").start()  # JetStream, not provisioned
    try:
        with FakeProviders() as fake:
            for key in (PY_KEY, KEYS["ts_anthropic"], KEYS["ts_openai"], KEYS["ts_gemini"]):
                fake.add_key(key, status="valid")
            fake.add_key(KEYS["rejected"], status="rejected")
            apps = service_apps(
                subjects.SERVICES,
                server.url,
                tmp_path / "data",
                PASSWORDS,
                **fake.settings_overrides(),
            )
            async with running(*apps):
                backend = await _client(server, "backend")
                runtime = await _client(server, "runtime")
                try:
                    yield Stack(server, bare, backend, runtime)
                finally:
                    await backend.close()
                    await runtime.close()
    finally:
        server.stop()
        bare.stop()


@pytest.fixture(scope="module")
def built() -> None:
    """The package built once for this module (types generated, tsc, browser bundle)."""
    if not (TS / "node_modules" / "@nats-io" / "transport-node").exists():
        pytest.fail("the TypeScript client's packages are not installed: run `make setup`")
    subprocess.run(["npm", "run", "--silent", "build"], cwd=TS, check=True, timeout=240)


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
async def test_typescript_client_against_the_stack_and_python(stack: Stack, built: None) -> None:

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
                "bare_url": stack.bare.url,
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
    assert _tap_count(output, "skipped") == (0 if TENANCY else 2), output[-3000:]
    assert _tap_count(output, "pass") >= 20
    print(f"node --test: {_tap_count(output, 'pass')} passed, {_tap_count(output, 'fail')} failed")

    lag = re.search(r"USAGE_LAG_MS=(\d+)", output)
    assert lag is not None
    print(f"usage.recorded -> usage.query visible after {lag.group(1)} ms")

    # The other way round: the key TypeScript configured resolves in Python.
    route = await stack.runtime.resolve("acme-ts", ["workspace:ts-ws"], provider="anthropic")
    assert route.api_key == KEYS["ts_anthropic"]
    assert route.source == "byok"
    tenant = await stack.runtime.resolve(
        "acme-ts", ["workspace:ts-ws"], provider="anthropic", per_account=True
    )
    assert tenant.api_key == KEYS["ts_anthropic"]

    # A configure seal made in TypeScript opens in Python to the exact envelope bytes.
    (sealed,) = re.findall(r"TS_SEALED=([A-Za-z0-9+/=]+)", output)
    assert len(base64.b64decode(sealed, validate=True)) == 32 + 16 + len(_envelope(vector))
    assert open_sealed(sealed, interop.private_key, subjects.KEYS_CONFIGURE) == _envelope(vector)


def _envelope(vector: dict[str, object]) -> bytes:
    """The configure envelope as contracts/SEALING.md fixes it (compact JSON, this key order)."""
    body = {
        "v": 1,
        "key": vector["key"],
        "account": vector["account"],
        "scope": vector["scope"],
        "iat": vector["iat"],
        "request_id": vector["request_id"],
    }
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


_TS_STUBS = """
import { ByokClient, ByokError } from "@byok/client";
declare const BACKEND_PASSWORD: string, RUNTIME_PASSWORD: string, apiKey: string, turnId: string;
declare function showError(message: string): void;
declare function callAnthropic(
  key: string, model: string,
): Promise<{ inputTokens: number; outputTokens: number }>;
"""


def _blocks(language: str) -> list[str]:
    readme = (ROOT / "README.md").read_text()
    return re.findall(rf"```{language}\n(.*?)```", readme, re.DOTALL)


async def test_the_readme_typescript_examples_type_check(built: None) -> None:
    """The README's TypeScript examples compile against the built @byok/client."""
    blocks = _blocks("ts")
    assert len(blocks) == 2
    check = TS / ".readme-check"
    check.mkdir(exist_ok=True)
    for index, block in enumerate(blocks):
        body = block.replace('import { ByokClient, ByokError } from "@byok/client";\n', "")
        (check / f"example{index}.mts").write_text(f"{_TS_STUBS}\nexport {{}};\n{body}")
    (check / "tsconfig.json").write_text(
        json.dumps(
            {
                "extends": "../tsconfig.json",
                "compilerOptions": {"noEmit": True, "rootDir": ".."},
                "include": ["*.mts"],
            }
        )
    )
    await _run("npx", "tsc", "-p", str(check / "tsconfig.json"))


def test_the_readme_python_examples_parse() -> None:
    blocks = _blocks("python")
    assert len(blocks) == 2
    for block in blocks:
        indented = "".join(f"    {line}\n" for line in block.splitlines())
        compile(f"async def example():\n{indented}", "README.md", "exec")


_PAGE = """<!doctype html>
<meta charset="utf-8">
<pre id="out">pending</pre>
<script type="module">
import { sealForConfigure } from "./seal.js";
const vector = JSON.parse(document.getElementById("vector").textContent);
const out = document.getElementById("out");
sealForConfigure({ ...vector, publicKey: vector.public_key, requestId: vector.request_id })
  .then((blob) => { out.textContent = "SEALED=" + blob; })
  .catch((err) => { out.textContent = "ERROR=" + err; });
</script>
<script type="application/json" id="vector">VECTOR</script>
"""


def test_the_browser_bundle_seals_in_chromium(tmp_path: Path, built: None) -> None:
    """dist/browser/seal.js (one ES module, WebCrypto only) seals in a real Chromium, and
    key-vault's own check (open_configure) accepts what it sealed."""
    from byok_contracts.sealing import open_configure

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.fail("no chromium: install Debian's chromium package (make test does)")
    recipient = Keypair.generate()
    vector = {
        "key": "sk-ant-api03-browser-\u00e9",
        "public_key": recipient.public_b64,
        "account": "acme",
        "scope": {"type": "workspace", "id": "from-the-browser"},
        "request_id": "req-browser-1",
        "iat": 1_700_000_000,
    }
    shutil.copy(TS / "dist" / "browser" / "seal.js", tmp_path / "seal.js")
    (tmp_path / "index.html").write_text(_PAGE.replace("VECTOR", json.dumps(vector)))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            done = subprocess.run(
                [
                    chromium,
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--virtual-time-budget=15000",
                    "--dump-dom",
                    f"http://127.0.0.1:{server.server_address[1]}/index.html",
                ],
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
        finally:
            server.shutdown()
    found = re.search(r"SEALED=([A-Za-z0-9+/=]+)", done.stdout)
    assert found, f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    sealed = found.group(1)
    assert open_sealed(sealed, recipient.private_key, subjects.KEYS_CONFIGURE) == _envelope(vector)
    key = open_configure(
        sealed,
        recipient.private_key,
        account="acme",
        scope=vector["scope"],
        request_id="req-browser-1",
        now=1_700_000_010,
    )
    assert key == vector["key"]
