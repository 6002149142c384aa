"""The gateway as it is deployed: ``python -m byok_gateway`` over TLS (the init job's
certificate), as its own least-privilege NATS user against an authorized nats-server,
tokens issued as the ``operator`` user. Its whole output (access log included) and
every error body hold no key bytes."""

from __future__ import annotations

import asyncio
import base64
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from byok_client import ByokClient
from byok_gateway.deploy import init
from byok_shared.apitokens import ApiTokenStore
from byok_shared.natsauth import inbox_prefix
from byok_shared.natsserver import NatsServer
from byok_shared.ports import free_port
from byok_shared.provision import provision_jetstream
from byok_shared.testing import running
from byok_shared.testing.fake_providers import FakeProviders
from byok_shared.testing.natsroles import PASSWORDS, service_apps, start_auth_server
from byok_shared.testing.processes import ServiceProcess

GOOD = "sk-ant-api03-" + "Gat3wayPr0c3ssK3yAA" * 4 + "-gwAA"
BAD = "sk-proj-" + "R3j3ct3dByTh3Pr0v1d3r" * 3
SERVICES = ("key-vault", "validator", "resolver", "credit-ledger", "usage-tracker")


def needles(secret: str) -> list[bytes]:
    raw = secret.encode()
    return [raw, raw[8:40], base64.b64encode(raw).rstrip(b"=")[8:40]]


@pytest.fixture
def auth_server(tmp_path: Path) -> Iterator[NatsServer]:
    server = start_auth_server(tmp_path)
    yield server
    server.stop()


def start_gateway(server: NatsServer, data: Path, port: int, log: Path) -> ServiceProcess:
    env = {
        "BYOK_NATS_USER": "gateway",
        "BYOK_NATS_PASSWORD": PASSWORDS["gateway"],
        "BYOK_NATS_INBOX_PREFIX": inbox_prefix("gateway"),
        "BYOK_HTTP_PORT": str(port),
        "BYOK_HTTP_TLS_CERT": str(data / "tls" / "gateway.crt"),
        "BYOK_HTTP_TLS_KEY": str(data / "tls" / "gateway.key"),
        "BYOK_LOG_LEVEL": "DEBUG",
        "BYOK_LOG_FORMAT": "json",
    }
    return ServiceProcess("gateway", server.url, data, env=env, log=log).start()


@pytest.mark.timeout(180)
async def test_tls_least_privilege_and_no_key_bytes_in_output(
    auth_server: NatsServer, tmp_path: Path
) -> None:
    data = tmp_path / "gateway-data"
    init(data, ["localhost", "127.0.0.1"])
    cert = data / "tls" / "gateway.crt"
    port, log = free_port(), tmp_path / "gateway.log"
    bodies: list[bytes] = []
    with FakeProviders() as fake:
        fake.add_key(GOOD, "valid")
        fake.add_key(BAD, "rejected")
        operator = await ByokClient.connect(
            auth_server.url,
            user="operator",
            password=PASSWORDS["operator"],
            inbox_prefix=inbox_prefix("operator"),
        )
        await provision_jetstream(operator.nc.jetstream())  # as make run and compose do
        apps = service_apps(
            SERVICES, auth_server.url, tmp_path / "data", PASSWORDS, **fake.settings_overrides()
        )
        async with running(*apps):
            store = ApiTokenStore(operator.nc.jetstream())
            token, record = await store.create("proc-acct")
            proc = start_gateway(auth_server, data, port, log)
            try:
                base = f"https://127.0.0.1:{port}"
                async with httpx.AsyncClient(
                    base_url=base, verify=ssl.create_default_context(cafile=str(cert)), timeout=10
                ) as http:
                    deadline = time.monotonic() + 60
                    while True:
                        try:
                            if (await http.get("/healthz")).status_code == 200:
                                break
                        except httpx.TransportError:
                            pass
                        assert proc.alive, log.read_text()[-3000:]
                        assert time.monotonic() < deadline, log.read_text()[-3000:]
                        await asyncio.sleep(0.2)
                    auth = {"Authorization": f"Bearer {token}"}
                    path = "/v1/scopes/workspace/proc-ws/keys"
                    ok = await http.post(path, headers=auth, json={"api_key": GOOD})
                    assert ok.status_code == 200, ok.text
                    assert ok.json()["provider"] == "anthropic"
                    attempts = [
                        await http.post(path, headers=auth, json={"apiKey": BAD}),
                        await http.post(path, headers=auth, json={"api_key": GOOD, GOOD: 1}),
                        await http.post(
                            path, headers=auth, content=b'{"api_key": "' + GOOD.encode()
                        ),
                        await http.post(f"/v1/{GOOD}?apiKey={GOOD}", headers=auth, json={}),
                        await http.post(
                            f"/api/integrations/claude/configure?scope=workspace:proc-ws&k={GOOD}",
                            headers=auth,
                            json={"apiKey": BAD},
                        ),
                    ]
                    assert [r.status_code for r in attempts] == [401, 400, 400, 404, 401]
                    bodies += [r.content for r in attempts]
                    listed = await http.get(path, headers=auth)
                    assert [k["provider"] for k in listed.json()["keys"]] == ["anthropic"]
                    # Revocation by the operator reaches the gateway's watch.
                    await store.revoke(record.token_id)
                    deadline = time.monotonic() + 30
                    while (await http.get("/v1/whoami", headers=auth)).status_code != 401:
                        assert time.monotonic() < deadline, "revoked token still accepted"
                        await asyncio.sleep(0.02)
            finally:
                proc.stop()
                await operator.close()
    output = log.read_bytes()
    assert b"byok.gateway.access" in output  # the access log is there ...
    assert b"/v1/scopes/{type}/{id}/keys" in output  # ... with route templates
    for blob in [output, *bodies]:
        for secret in (GOOD, BAD):
            for needle in needles(secret):
                assert needle not in blob, (secret[:10], blob[:400])
