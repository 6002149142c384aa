"""FakeVaultTransit: a local HTTP server answering like Vault's transit secrets engine.

For tests of the ``vault`` cipher without a Vault. It follows the documented
API (https://developer.hashicorp.com/vault/api-docs/secret/transit): paths
``/v1/<mount>/keys/<name>`` (create, read), ``.../keys/<name>/rotate``,
``/encrypt/<name>``, ``/decrypt/<name>``, ``/rewrap/<name>``; base64 plaintext
and context; ``vault:vN:`` ciphertexts; the ``X-Vault-Token`` header; and the
errors Vault gives (missing context for a derived key, a ciphertext that does
not authenticate, an unknown key). Not a security boundary: keys live in memory.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from byok_shared.testing.localhttp import LocalHTTPServer, OwnedServer

__all__ = ["FakeVaultTransit"]


@dataclass
class _Key:
    derived: bool
    versions: list[bytes] = field(default_factory=lambda: [AESGCM.generate_key(bit_length=256)])

    def material(self, version: int, context: bytes | None) -> bytes:
        base = self.versions[version - 1]
        if not self.derived:
            return base
        assert context is not None
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=context).derive(base)


class _Failure(Exception):
    def __init__(self, code: int, *errors: str) -> None:
        super().__init__(errors)
        self.code = code
        self.errors = list(errors)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # One write per response, no Nagle: otherwise delayed ACKs add ~40 ms per call.
    wbufsize = 64 * 1024
    disable_nagle_algorithm = True
    server: OwnedServer

    def log_message(self, format: str, *args: Any) -> None:
        """Silent."""

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        fake: FakeVaultTransit = self.server.owner
        try:
            if fake.sealed:
                raise _Failure(503, "Vault is sealed")
            if self.headers.get("x-vault-token") != fake.token:
                raise _Failure(403, "permission denied")
            body = json.loads(raw) if raw.strip() else {}
            code, reply = fake.handle(method, self.path.split("?", 1)[0], body)
        except _Failure as failure:
            code, reply = failure.code, {"errors": failure.errors}
        except ValueError:
            code, reply = 400, {"errors": ["failed to parse JSON input"]}
        data = json.dumps(reply).encode() if reply is not None else b""
        self.send_response(code)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def _b64decode(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise _Failure(400, f"missing {what}")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise _Failure(400, f"failed to base64-decode {what}") from None


class FakeVaultTransit(LocalHTTPServer):
    """``with FakeVaultTransit(token="t") as vault: hvac.Client(vault.url, "t")``.

    ``stop()`` then ``start()`` is a Vault restart: same address, same keys.
    """

    name = "fake-vault"
    handler = _Handler

    def __init__(self, *, token: str = "fake-root-token", mount: str = "transit") -> None:  # noqa: S107
        self.token = token
        self.mount = mount
        self.sealed = False
        self.keys: dict[str, _Key] = {}
        self._lock = threading.Lock()
        super().__init__()

    @property
    def url(self) -> str:
        return self.base_url

    # the transit API -----------------------------------------------------------
    def handle(self, method: str, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        prefix = f"/v1/{self.mount}/"
        if not path.startswith(prefix):
            raise _Failure(404, f"no handler for route {path.lstrip('/')!r}")
        parts = path[len(prefix) :].split("/")
        with self._lock:
            if parts[0] == "keys" and len(parts) == 2:
                return self._create(parts[1], body) if method == "POST" else self._read(parts[1])
            if parts[0] == "keys" and len(parts) == 3 and parts[2] == "rotate":
                self._key(parts[1]).versions.append(AESGCM.generate_key(bit_length=256))
                return self._read(parts[1])
            if len(parts) == 2 and method == "POST":
                op, name = parts
                if op == "encrypt":
                    return 200, {"data": self._encrypt(name, body, upsert=True)}
                if op == "decrypt":
                    return 200, {"data": {"plaintext": self._decrypt(name, body)}}
                if op == "rewrap":
                    plaintext = self._decrypt(name, body)
                    return 200, {"data": self._encrypt(name, {**body, "plaintext": plaintext})}
        raise _Failure(405, "unsupported operation")

    def _key(self, name: str) -> _Key:
        key = self.keys.get(name)
        if key is None:
            raise _Failure(400, "encryption key not found")
        return key

    def _create(self, name: str, body: dict[str, Any]) -> tuple[int, Any]:
        if name not in self.keys:
            self.keys[name] = _Key(derived=bool(body.get("derived", False)))
        return 204, None

    def _read(self, name: str) -> tuple[int, Any]:
        key = self.keys.get(name)
        if key is None:
            raise _Failure(404)
        return 200, {
            "data": {
                "name": name,
                "type": "aes256-gcm96",
                "derived": key.derived,
                "kdf": "hkdf_sha256" if key.derived else None,
                "latest_version": len(key.versions),
                "min_decryption_version": 1,
                "min_encryption_version": 0,
                "keys": {str(i + 1): 1700000000 + i for i in range(len(key.versions))},
                "supports_derivation": True,
                "supports_encryption": True,
                "supports_decryption": True,
            }
        }

    def _context(self, key: _Key, body: dict[str, Any]) -> bytes | None:
        if not key.derived:
            return None
        if not body.get("context"):
            raise _Failure(
                400,
                "missing 'context' for key derivation; the key was created using a derived key, "
                "which means additional, per-request information must be included in order to "
                "perform operations with the key",
            )
        return _b64decode(body["context"], "context")

    def _encrypt(self, name: str, body: dict[str, Any], *, upsert: bool = False) -> dict[str, Any]:
        if upsert and name not in self.keys:
            self.keys[name] = _Key(derived=bool(body.get("context")))
        key = self._key(name)
        plaintext = _b64decode(body.get("plaintext"), "plaintext")
        context = self._context(key, body)
        version = len(key.versions)
        nonce = os.urandom(12)
        sealed = AESGCM(key.material(version, context)).encrypt(nonce, plaintext, None)
        return {
            "ciphertext": f"vault:v{version}:{base64.b64encode(nonce + sealed).decode()}",
            "key_version": version,
        }

    def _decrypt(self, name: str, body: dict[str, Any]) -> str:
        key = self._key(name)
        ciphertext = body.get("ciphertext")
        if not isinstance(ciphertext, str) or not ciphertext.startswith("vault:v"):
            raise _Failure(400, "invalid ciphertext: no prefix")
        tag, _, blob64 = ciphertext[len("vault:") :].partition(":")
        if not tag[1:].isdigit() or not 1 <= int(tag[1:]) <= len(key.versions):
            raise _Failure(400, "invalid ciphertext: unknown key version")
        context = self._context(key, body)
        blob = _b64decode(blob64, "ciphertext")
        try:
            plaintext = AESGCM(key.material(int(tag[1:]), context)).decrypt(
                blob[:12], blob[12:], None
            )
        except (InvalidTag, ValueError):
            raise _Failure(400, "cipher: message authentication failed") from None
        return base64.b64encode(plaintext).decode()
