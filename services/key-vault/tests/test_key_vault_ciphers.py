"""One Cipher test suite, run against every adapter (eventsourcing-style).

- ``local``: the AES-256-GCM keyring file;
- ``vault-fake``: the ``vault`` adapter over HTTP to :class:`FakeVaultTransit`;
- ``vault-real``: the ``vault`` adapter against a real Vault/OpenBao, when
  ``VAULT_ADDR`` (+ ``VAULT_TOKEN``) is set or a Docker engine can start one.
"""

from __future__ import annotations

import functools
import os
import stat
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import hvac
import pytest

from byok_key_vault.adapters.local_cipher import LocalCipher
from byok_key_vault.adapters.vault_cipher import VaultCipher
from byok_key_vault.errors import CipherError, CipherUnavailable
from byok_key_vault.ports import Cipher
from byok_key_vault.testing import FakeVaultTransit

SECRET = b"sk-ant-api03-cipher-suite-secret-0123456789"


@functools.cache
def _docker_reachable() -> bool:
    try:
        import docker

        docker.from_env(timeout=2).ping()
    except Exception:
        return False
    return True


@pytest.fixture
def fake_vault() -> Iterator[FakeVaultTransit]:
    with FakeVaultTransit(token="t0ken") as vault:
        yield vault


@pytest.fixture
def real_vault() -> Iterator[tuple[str, str]]:
    if os.environ.get("VAULT_ADDR"):
        yield os.environ["VAULT_ADDR"], os.environ.get("VAULT_TOKEN", "")
        return
    if not _docker_reachable():
        pytest.skip(
            "no real Vault: VAULT_ADDR is not set and no Docker engine is reachable "
            "for a testcontainers Vault (this machine has only the docker client)"
        )
    from testcontainers.vault import VaultContainer

    with VaultContainer("hashicorp/vault:1.18") as container:
        client = container.get_client()
        client.sys.enable_secrets_engine("transit")
        yield container.get_connection_url(), container.root_token


@pytest.fixture(params=["local", "vault-fake", pytest.param("vault-real", marks=pytest.mark.vault)])
async def cipher(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Cipher]:
    chosen: Cipher
    if request.param == "local":
        chosen = LocalCipher.in_data_dir(tmp_path)
    else:
        if request.param == "vault-fake":
            vault = request.getfixturevalue("fake_vault")
            url, token = vault.url, vault.token
        else:
            url, token = request.getfixturevalue("real_vault")
        vault_cipher = VaultCipher(hvac.Client(url=url, token=token, timeout=5), key="byok-test")
        await vault_cipher.ensure_key()
        chosen = vault_cipher
    yield chosen
    await chosen.close()


async def test_round_trip(cipher: Cipher) -> None:
    ciphertext = await cipher.encrypt(SECRET, "workspace.acme")
    assert SECRET not in ciphertext.encode()
    assert await cipher.decrypt(ciphertext, "workspace.acme") == SECRET


async def test_fresh_nonce_every_time(cipher: Cipher) -> None:
    assert await cipher.encrypt(SECRET, "a.b") != await cipher.encrypt(SECRET, "a.b")


async def test_ciphertext_bound_to_its_scope(cipher: Cipher) -> None:
    ciphertext = await cipher.encrypt(SECRET, "workspace.acme")
    with pytest.raises(CipherError):
        await cipher.decrypt(ciphertext, "workspace.evil")


async def test_tampered_or_foreign_ciphertext_fails(cipher: Cipher) -> None:
    ciphertext = await cipher.encrypt(SECRET, "workspace.acme")
    head, _, body = ciphertext.rpartition(":")
    flipped = body[:-6] + ("A" if body[-6] != "A" else "B") + body[-5:]
    with pytest.raises(CipherError):
        await cipher.decrypt(f"{head}:{flipped}", "workspace.acme")
    with pytest.raises(CipherError):
        await cipher.decrypt("nonsense", "workspace.acme")


async def test_rotate_then_old_ciphertexts_still_decrypt_and_rewrap_moves_them(
    cipher: Cipher,
) -> None:
    old = await cipher.encrypt(SECRET, "session.s1")
    await cipher.rotate()
    assert await cipher.decrypt(old, "session.s1") == SECRET
    new = await cipher.rewrap(old, "session.s1")
    assert new != old
    assert int(new.split(":")[1][1:]) == int(old.split(":")[1][1:]) + 1
    assert await cipher.decrypt(new, "session.s1") == SECRET
    assert await cipher.rewrap(new, "session.s1") is not None
    fresh = await cipher.encrypt(SECRET, "session.s1")
    assert fresh.split(":")[1] == new.split(":")[1]


async def test_rewrap_keeps_the_scope_binding(cipher: Cipher) -> None:
    old = await cipher.encrypt(SECRET, "session.s1")
    await cipher.rotate()
    with pytest.raises(CipherError):
        await cipher.rewrap(old, "session.s2")


# adapter-specific ---------------------------------------------------------------


def test_local_keyring_file_is_private_and_persists(tmp_path: Path) -> None:
    first = LocalCipher.in_data_dir(tmp_path / "data")
    mode = stat.S_IMODE(first.path.stat().st_mode)
    assert mode == 0o600
    assert stat.S_IMODE(first.path.parent.stat().st_mode) == 0o700
    again = LocalCipher.in_data_dir(tmp_path / "data")
    assert again.latest_version == first.latest_version == 1


async def test_local_rotation_seen_by_another_replica(tmp_path: Path) -> None:
    one = LocalCipher.in_data_dir(tmp_path)
    two = LocalCipher.in_data_dir(tmp_path)
    await one.rotate()
    assert stat.S_IMODE(one.path.stat().st_mode) == 0o600
    ciphertext = await one.encrypt(SECRET, "x.y")
    assert ciphertext.startswith("local:v2:")
    assert await two.decrypt(ciphertext, "x.y") == SECRET


def test_fake_vault_refuses_a_derived_key_without_context(fake_vault: FakeVaultTransit) -> None:
    client = hvac.Client(url=fake_vault.url, token=fake_vault.token)
    client.secrets.transit.create_key(name="d", derived=True)
    with pytest.raises(hvac.exceptions.InvalidRequest, match="missing 'context'"):
        client.secrets.transit.encrypt_data(name="d", plaintext="aGk=")
    with pytest.raises(hvac.exceptions.Forbidden):
        hvac.Client(url=fake_vault.url, token="wrong").secrets.transit.read_key(name="d")


async def test_vault_down_is_unavailable(fake_vault: FakeVaultTransit) -> None:
    cipher = VaultCipher(hvac.Client(url=fake_vault.url, token=fake_vault.token, timeout=2))
    await cipher.ensure_key()
    ciphertext = await cipher.encrypt(SECRET, "a.b")
    fake_vault.sealed = True
    with pytest.raises(CipherUnavailable):
        await cipher.decrypt(ciphertext, "a.b")
    fake_vault.stop()
    with pytest.raises(CipherUnavailable):
        await cipher.encrypt(SECRET, "a.b")
