"""HPKE sealing: interop with cryptography's HPKE used directly, subject binding, tampering."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from byok_contracts import Keypair, SealingError, open_sealed, seal, subjects

SUITE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
SECRET = b"sk-ant-api03-" + b"x" * 80


def test_sealed_blob_opens_with_raw_rfc9180_suite() -> None:
    pair = Keypair.generate()
    blob = base64.b64decode(seal(SECRET, pair.public_b64, subjects.KEYS_CONFIGURE))
    assert len(blob) == 32 + len(SECRET) + 16  # enc || ciphertext || tag
    opened = SUITE.decrypt(blob, pair.private_key, info=subjects.KEYS_CONFIGURE.encode())
    assert opened == SECRET


def test_blob_sealed_by_raw_suite_opens_with_helper() -> None:
    private = X25519PrivateKey.generate()
    raw = SUITE.encrypt(SECRET, private.public_key(), info=subjects.RESOLVE.encode())
    sealed = base64.b64encode(raw).decode()
    assert open_sealed(sealed, private, subjects.RESOLVE) == SECRET


def test_subject_is_bound_as_info() -> None:
    pair = Keypair.generate()
    sealed = seal(SECRET, pair.public_key, subjects.KEYS_CONFIGURE)
    with pytest.raises(SealingError):
        pair.open(sealed, subjects.RESOLVE)


def test_wrong_recipient_cannot_open() -> None:
    sealed = seal(SECRET, Keypair.generate().public_b64, subjects.RESOLVE)
    with pytest.raises(SealingError):
        Keypair.generate().open(sealed, subjects.RESOLVE)


def test_tampered_or_garbage_blobs_fail_cleanly() -> None:
    pair = Keypair.generate()
    blob = bytearray(base64.b64decode(seal(SECRET, pair.public_b64, subjects.RESOLVE)))
    blob[-1] ^= 1
    for bad in [
        base64.b64encode(bytes(blob)).decode(),
        "%%%",
        "",
        base64.b64encode(b"x" * 10).decode(),
    ]:
        with pytest.raises(SealingError):
            pair.open(bad, subjects.RESOLVE)


def test_sealing_is_randomised() -> None:
    pair = Keypair.generate()
    assert seal(SECRET, pair.public_b64, "s") != seal(SECRET, pair.public_b64, "s")


def test_keypair_round_trips_and_kid_is_stable() -> None:
    pair = Keypair.generate()
    again = Keypair.from_private_bytes(pair.private_bytes())
    assert again.public_b64 == pair.public_b64
    assert again.kid == pair.kid
    assert len(pair.kid) == 16
    assert Keypair.generate().kid != pair.kid


def test_bad_public_keys_are_rejected() -> None:
    for bad in ["not-base64!", base64.b64encode(b"short").decode(), b"\x00" * 31]:
        with pytest.raises(SealingError):
            seal(SECRET, bad, "s")


# --- the bound configure seal (contracts/SEALING.md) --------------------------------


def test_configure_envelope_is_the_documented_bytes() -> None:
    import json

    from byok_contracts.sealing import configure_envelope

    raw = configure_envelope(
        "sk-x", account="acme", scope={"type": "workspace", "id": "w"}, request_id=None, iat=7
    )
    assert raw == (
        b'{"v":1,"key":"sk-x","account":"acme","scope":{"type":"workspace","id":"w"},'
        b'"iat":7,"request_id":null}'
    )
    assert json.loads(raw)["scope"] == {"type": "workspace", "id": "w"}


def test_raw_rfc9180_seal_of_an_envelope_opens_and_binds() -> None:
    import json
    import time

    from byok_contracts import SealBindingError, open_configure

    pair = Keypair.generate()
    scope = {"type": "workspace", "id": "w"}
    envelope = {
        "request_id": "r1",
        "iat": int(time.time()),
        "scope": scope,
        "account": "acme",
        "key": "sk-ant-x",
        "v": 1,
    }  # another member order and spacing: still the same envelope
    blob = SUITE.encrypt(
        json.dumps(envelope).encode(), pair.public_key, info=b"byok.v1.keys.configure"
    )
    sealed = base64.b64encode(blob).decode()
    opened = open_configure(sealed, pair.private_key, account="acme", scope=scope, request_id="r1")
    assert opened == "sk-ant-x"
    cases = [
        (
            {"account": "acme", "scope": {"type": "workspace", "id": "x"}, "request_id": "r1"},
            "seal_mismatch",
        ),
        ({"account": "other", "scope": scope, "request_id": "r1"}, "seal_mismatch"),
        ({"account": "acme", "scope": scope, "request_id": None}, "seal_mismatch"),
        (
            {"account": "acme", "scope": scope, "request_id": "r1", "now": time.time() + 301},
            "seal_expired",
        ),
        (
            {"account": "acme", "scope": scope, "request_id": "r1", "now": time.time() - 61},
            "seal_expired",
        ),
    ]
    for kwargs, error in cases:
        with pytest.raises(SealBindingError) as caught:
            open_configure(sealed, pair.private_key, **kwargs)  # type: ignore[arg-type]
        assert caught.value.error == error
        assert "sk-ant-x" not in caught.value.message
    raw_key = seal(b"sk-ant-x", pair.public_b64, subjects.KEYS_CONFIGURE)  # pre-0.2 form
    with pytest.raises(SealBindingError) as malformed:
        open_configure(raw_key, pair.private_key, account="acme", scope=scope)
    assert malformed.value.error == "malformed_seal"
