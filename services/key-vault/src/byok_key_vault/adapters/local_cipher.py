"""``local`` cipher: an AES-256-GCM keyring with versions, in a 0600 file under the data dir.

Ciphertexts look like ``local:v3:<base64(nonce || ciphertext)>``; the context
(the scope) is the GCM associated data, so a ciphertext copied to another scope
does not decrypt. Rotation appends a version; old versions keep decrypting.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..errors import CipherError, CipherUnavailable

__all__ = ["LocalCipher"]

_PREFIX = "local"


class LocalCipher:
    """The embedded default for one machine (replicas on it share the keyring file)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._keys: dict[int, bytes] = {}
        self._latest = 0
        self._load(create=True)

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> LocalCipher:
        return cls(data_dir / "key-vault" / "keyring.json")

    @property
    def latest_version(self) -> int:
        return self._latest

    async def encrypt(self, plaintext: bytes, context: str) -> str:
        nonce = os.urandom(12)
        sealed = AESGCM(self._keys[self._latest]).encrypt(nonce, plaintext, _aad(context))
        return f"{_PREFIX}:v{self._latest}:{base64.b64encode(nonce + sealed).decode()}"

    async def decrypt(self, ciphertext: str, context: str) -> bytes:
        version, blob = self._parse(ciphertext)
        if version not in self._keys:
            self._load(create=False)  # another replica may have rotated
        key = self._keys.get(version)
        if key is None:
            raise CipherError(f"unknown keyring version v{version}")
        try:
            return AESGCM(key).decrypt(blob[:12], blob[12:], _aad(context))
        except InvalidTag:
            raise CipherError("ciphertext does not decrypt in this context") from None

    async def rewrap(self, ciphertext: str, context: str) -> str:
        version, _ = self._parse(ciphertext)
        self._load(create=False)
        if version == self._latest:
            return ciphertext
        return await self.encrypt(await self.decrypt(ciphertext, context), context)

    async def rotate(self) -> None:
        self._load(create=False)
        self._keys[self._latest + 1] = AESGCM.generate_key(bit_length=256)
        self._latest += 1
        self._write()

    async def close(self) -> None:
        self._keys.clear()

    def _parse(self, ciphertext: str) -> tuple[int, bytes]:
        prefix, _, rest = ciphertext.partition(":")
        tag, _, body = rest.partition(":")
        if prefix != _PREFIX or not tag.startswith("v") or not tag[1:].isdigit():
            raise CipherError("not a local-cipher ciphertext")
        try:
            blob = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise CipherError("ciphertext is not valid base64") from None
        if len(blob) < 12 + 16:
            raise CipherError("ciphertext is too short")
        return int(tag[1:]), blob

    def _load(self, *, create: bool) -> None:
        try:
            data = json.loads(self.path.read_text("utf-8"))
        except FileNotFoundError:
            if not create:
                raise CipherUnavailable(f"keyring {self.path} is missing") from None
            self._keys = {1: AESGCM.generate_key(bit_length=256)}
            self._latest = 1
            self._write(exclusive=True)
            return
        except (OSError, ValueError) as exc:
            raise CipherUnavailable(f"keyring {self.path} is unreadable: {exc}") from None
        self._keys = {int(v): base64.b64decode(k) for v, k in data["keys"].items()}
        self._latest = int(data["latest"])

    def _write(self, *, exclusive: bool = False) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.path.parent, 0o700)
        body = json.dumps(
            {
                "latest": self._latest,
                "keys": {str(v): base64.b64encode(k).decode() for v, k in self._keys.items()},
            }
        ).encode()
        if exclusive:
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:  # another replica created it first: use that one
                self._load(create=False)
                return
        else:
            tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(body)
            out.flush()
            os.fsync(out.fileno())
        if not exclusive:
            os.replace(tmp, self.path)


def _aad(context: str) -> bytes:
    return f"byok:{context}".encode()
