"""Faults of the real OpenBao under key-vault (issue 11), nothing faked but the providers.

- kill -9 of ``bao`` (persistent raft storage), restart sealed, unseal with the stored
  key: key-vault replies 503 while it is down or sealed, recovers without a restart
  of any service, and every stored key still opens;
- the transit key rotated and every ciphertext rewrapped while resolves, unseals and
  configures run concurrently: zero decrypt errors.

key-vault holds only its limited token (``byok_shared.openbao``), as under ``make run``.
Figures are printed as one JSON line per test (run with ``-s`` to see them).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from byok_client import ByokClient
from byok_contracts import Keypair, Unavailable, subjects
from byok_key_vault.app import create_app as key_vault_app
from byok_key_vault.config import KeyVaultSettings
from byok_resolver.app import create_app as resolver_app
from byok_shared.natsserver import NatsServer
from byok_shared.openbao import OpenBao
from byok_shared.recipients import register_recipient
from byok_shared.testing import running, settings_for
from byok_shared.testing.fake_providers import FakeProviders
from byok_validator.app import create_app as validator_app
from byok_validator.config import ValidatorSettings

pytestmark = pytest.mark.vault
ACCOUNT = "acme"


def anthropic_key(tag: str) -> str:
    return f"sk-ant-api03-{tag}-" + "V" * 60


@asynccontextmanager
async def stack(
    nats_server: NatsServer, bao: OpenBao, fake: FakeProviders, data: Path
) -> AsyncIterator[ByokClient]:
    """key-vault (vault cipher, its token file), validator and resolver, in-process."""
    settings = settings_for(
        nats_server.url,
        data,
        **fake.settings_overrides(),
        cipher="vault",
        vault_addr=bao.url,
        vault_token_file=bao.token_file,
    )
    validator = ValidatorSettings(
        http_timeout=0.4, attempts=2, backoff=0.05, revalidate_interval=0, report_window=0.0
    )
    async with (
        running(
            validator_app(settings, validator),
            key_vault_app(settings, KeyVaultSettings(validate_timeout=3.0)),
            resolver_app(settings),
        ),
        await ByokClient.connect(nats_server.url, timeout=5.0, account=ACCOUNT) as client,
    ):
        yield client


@dataclass
class Unseals:
    """Loops ``internal.keys.unseal`` (a transit decrypt every time) over stored keys."""

    client: ByokClient
    keys: dict[str, str]  # key_id -> the plaintext it must open to
    # sent, took, key_id, outcome
    replies: list[tuple[float, float, str, str]] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        recipient = Keypair.generate()
        # As a resolver replica does: key-vault seals only to registered recipients.
        await register_recipient(self.client.nc.jetstream(), "resolver", "vault-faults", recipient)
        while not self.stop.is_set():
            for key_id, plaintext in list(self.keys.items()):
                body = json.dumps({"key_id": key_id, "recipient_key": recipient.public_b64})
                sent = time.monotonic()
                msg = await self.client.nc.request(
                    subjects.INTERNAL_KEYS_UNSEAL, body.encode(), timeout=5
                )
                took = time.monotonic() - sent
                data = json.loads(msg.data)
                if data["status"] == "ok":
                    opened = recipient.open(data["sealed_key"], subjects.INTERNAL_KEYS_UNSEAL)
                    outcome = "ok" if opened.decode() == plaintext else "wrong"
                else:
                    outcome = f"{data['code']}:{data['error']}"
                if outcome not in ("ok", "503:cipher_unavailable"):
                    self.wrong.append(f"{key_id}: {outcome}")
                self.replies.append((sent, took, key_id, outcome))
            await asyncio.sleep(0.005)

    def ok_after(self, moment: float) -> float | None:
        return next((s for s, _, _, o in self.replies if s >= moment and o == "ok"), None)


@pytest.mark.timeout(90)
async def test_bao_kill9_restart_unseal_503_then_recovers_without_restart_nothing_lost(
    nats_server: NatsServer, openbao: OpenBao, fake_providers: FakeProviders, tmp_path: Path
) -> None:
    async with stack(nats_server, openbao, fake_providers, tmp_path / "data") as client:
        stored: dict[str, str] = {}
        for i in range(6):
            plaintext = fake_providers.add_key(anthropic_key(f"kill{i}"))
            stored[
                (await client.configure(f"workspace:k{i}", plaintext, account=ACCOUNT)).key_id
            ] = plaintext
        warm = await client.resolve(ACCOUNT, ["workspace:k0"], provider="anthropic")
        unseals = Unseals(client, stored)
        task = asyncio.create_task(unseals.run())
        await asyncio.sleep(0.3)
        address, token = openbao.url, openbao.key_vault_token

        killed = time.monotonic()
        openbao.kill()
        await asyncio.sleep(1.0)
        took: dict[str, float] = {}
        started = time.monotonic()
        with pytest.raises(Unavailable) as configure:
            await client.configure(
                "workspace:down", fake_providers.add_key(anthropic_key("dn")), account=ACCOUNT
            )
        took["configure_while_down"] = time.monotonic() - started
        assert (configure.value.code, configure.value.error) == (503, "cipher_unavailable")
        started = time.monotonic()
        with pytest.raises(Unavailable):  # material never fetched by the resolver: needs bao
            await client.resolve(ACCOUNT, ["workspace:k5"], provider="anthropic")
        took["cold_resolve_while_down"] = time.monotonic() - started
        # What needs no Vault keeps working: listing, and key material already in memory.
        assert len(await client.list_keys("workspace:k1")) == 1
        cached = await client.resolve(ACCOUNT, ["workspace:k0"], provider="anthropic")
        assert (cached.key_id, cached.api_key) == (warm.key_id, warm.api_key)

        openbao.start(unseal=False)  # back on the same address, still sealed
        assert openbao.url == address
        await asyncio.sleep(0.5)
        started = time.monotonic()
        with pytest.raises(Unavailable) as sealed:
            await client.configure(
                "workspace:down", fake_providers.add_key(anthropic_key("sl")), account=ACCOUNT
            )
        took["configure_while_sealed"] = time.monotonic() - started
        assert sealed.value.code == 503

        unsealed = time.monotonic()
        openbao.unseal()  # with the unseal key stored at first start
        active = time.monotonic()
        assert openbao.key_vault_token == token  # same token: key-vault keeps its own
        recovered = unseals.ok_after(unsealed)
        deadline = time.monotonic() + 10
        while recovered is None:
            assert time.monotonic() < deadline, "no unseal answered after bao came back"
            await asyncio.sleep(0.02)
            recovered = unseals.ok_after(unsealed)
        fresh = fake_providers.add_key(anthropic_key("after"))
        after = await client.configure("workspace:after", fresh, account=ACCOUNT)
        stored[after.key_id] = fresh
        await asyncio.sleep(0.3)
        unseals.stop.set()
        await task

        # Nothing lost: every key opens to what was configured; nothing stored while down.
        for i in range(6):
            assert len(await client.list_keys(f"workspace:k{i}")) == 1
        assert await client.list_keys("workspace:down") == []
        scopes = {f"workspace:k{i}" for i in range(6)} | {"workspace:after"}
        for scope in scopes:  # the resolver never held these: each is a decrypt now
            route = await client.resolve(ACCOUNT, [scope], provider="anthropic")
            assert stored[route.key_id] == route.api_key
        opened_after = {k for s, _, k, o in unseals.replies if s > recovered and o == "ok"}
        assert opened_after == set(stored)
        outcomes = Counter(o for _, _, _, o in unseals.replies)
        refused = [(s, t) for s, t, _, o in unseals.replies if o != "ok"]
        assert unseals.wrong == []
        assert refused, "no request saw the outage"
        assert all(killed - 0.1 <= s <= active + 0.3 for s, _ in refused), "503 outside outage"
        assert max(t for _, t in refused) < 3.0  # a reply, well before the 5 s client timeout
        assert max(took.values()) < 3.0, took
        failed_after = [s for s, _, _, o in unseals.replies if s > recovered and o != "ok"]
        assert failed_after == []  # once recovered, every unseal succeeded
        figures = {
            "outage_s": round(unsealed - killed, 3),
            "refused_503": len(refused),
            "max_503_reply_s": round(max(t for _, t in refused), 3),
            "unseal_call_s": round(active - unsealed, 3),
            "recovered_after_unseal_s": round(recovered - unsealed, 3),
            "unseals_ok": outcomes["ok"],
            "wrong_or_other_errors": len(unseals.wrong),
            **{k: round(v, 3) for k, v in took.items()},
        }
        print(json.dumps({"bao_kill9": figures}))


@pytest.mark.timeout(120)
async def test_transit_rotation_with_rewrap_while_serving_zero_decrypt_errors(
    nats_server: NatsServer, openbao: OpenBao, fake_providers: FakeProviders, tmp_path: Path
) -> None:
    """Three rotations (each: a new transit key version, every record rewrapped by
    key-vault with its limited token) while unseals loop over every key, new keys are
    configured and resolved: not one decrypt error, and all records end on the newest
    version."""
    async with stack(nats_server, openbao, fake_providers, tmp_path / "data") as client:
        stored: dict[str, str] = {}
        for i in range(12):
            plaintext = fake_providers.add_key(anthropic_key(f"rot{i}"))
            stored[(await client.configure(f"session:r{i}", plaintext, account=ACCOUNT)).key_id] = (
                plaintext
            )
        unseals = Unseals(client, stored)
        errors: Counter[str] = Counter()
        done: Counter[str] = Counter()

        async def configure_and_resolve() -> None:
            n = 0
            while not unseals.stop.is_set():
                n += 1
                scope, plaintext = f"session:n{n}", fake_providers.add_key(anthropic_key(f"n{n}"))
                try:
                    key_id = (await client.configure(scope, plaintext, account=ACCOUNT)).key_id
                    route = await client.resolve(ACCOUNT, [scope], provider="anthropic")
                except Exception as exc:
                    errors[f"{type(exc).__name__}: {exc}"] += 1
                    continue
                if (route.key_id, route.api_key) != (key_id, plaintext):
                    errors["resolve served the wrong key"] += 1
                stored[key_id] = plaintext
                done["configure+resolve"] += 1

        tasks = [asyncio.create_task(unseals.run()), asyncio.create_task(configure_and_resolve())]
        await asyncio.sleep(0.5)
        rotations = []
        for _ in range(3):
            started = time.monotonic()
            rotated = await client.rotate_keys()
            rotations.append((round(time.monotonic() - started, 3), rotated.rewrapped))
            await asyncio.sleep(0.3)
        unseals.stop.set()
        await asyncio.gather(*tasks)
        last = await client.rotate_keys()  # quiet now: every record moves to the newest

        assert unseals.wrong == [], unseals.wrong[:5]
        assert not errors, errors
        decrypts = Counter(o for _, _, _, o in unseals.replies)
        assert set(decrypts) == {"ok"}, decrypts
        assert all(rewrapped >= 12 for _, rewrapped in rotations), rotations
        kv = await client.nc.jetstream().key_value("byok-keys")
        versions = Counter()
        for name in await kv.keys():
            record = json.loads((await kv.get(name)).value or b"{}")
            versions[record["ciphertext"].split(":")[1]] += 1
        assert set(versions) == {"v5"}, versions  # 1 + 3 rotations under load + 1
        assert last.rewrapped >= len(stored)
        await register_recipient(
            client.nc.jetstream(), "resolver", "vault-check", client.runtime_keypair
        )
        for key_id, plaintext in list(stored.items())[::7]:
            body = json.dumps(
                {"key_id": key_id, "recipient_key": client.runtime_keypair.public_b64}
            )
            msg = await client.nc.request(subjects.INTERNAL_KEYS_UNSEAL, body.encode(), timeout=5)
            sealed = json.loads(msg.data)["sealed_key"]
            opened = client.runtime_keypair.open(sealed, subjects.INTERNAL_KEYS_UNSEAL)
            assert opened.decode() == plaintext
        print(
            json.dumps(
                {
                    "bao_rotation": {
                        "rotations_s_rewrapped": rotations,
                        "unseal_decrypts_ok": decrypts["ok"],
                        "decrypt_errors": len(unseals.wrong),
                        "configure_resolve_ok": done["configure+resolve"],
                        "configure_resolve_errors": sum(errors.values()),
                        "records": sum(versions.values()),
                    }
                }
            )
        )
