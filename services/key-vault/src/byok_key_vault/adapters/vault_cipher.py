"""``vault`` cipher: Vault / OpenBao transit through hvac, with a derived key.

The scope is the derivation context, so a ciphertext copied to another scope
does not decrypt. hvac blocks, so every call runs in a worker thread; an
unreachable or failing Vault becomes a 503.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import Callable
from typing import Any, TypeVar

import hvac
import hvac.exceptions
import requests

from ..errors import CipherError, CipherUnavailable

__all__ = ["VaultCipher"]

T = TypeVar("T")

_UNREACHABLE = (
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    hvac.exceptions.VaultDown,
    hvac.exceptions.InternalServerError,
    hvac.exceptions.BadGateway,
    hvac.exceptions.RateLimitExceeded,
    hvac.exceptions.VaultNotInitialized,
    hvac.exceptions.Forbidden,
    hvac.exceptions.Unauthorized,
)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class VaultCipher:
    """Transit encrypt/decrypt/rewrap/rotate under ``<mount>/keys/<key>``."""

    def __init__(self, client: hvac.Client, *, mount: str = "transit", key: str = "byok") -> None:
        self.client = client
        self.mount = mount
        self.key = key

    async def ensure_key(self) -> None:
        """Create the derived key unless it exists (compose's init step usually did)."""
        transit = self.client.secrets.transit
        try:
            await self._call(transit.read_key, name=self.key, mount_point=self.mount)
        except CipherError:
            await self._call(
                transit.create_key,
                name=self.key,
                derived=True,
                key_type="aes256-gcm96",
                mount_point=self.mount,
            )

    async def encrypt(self, plaintext: bytes, context: str) -> str:
        reply = await self._call(
            self.client.secrets.transit.encrypt_data,
            name=self.key,
            plaintext=_b64(plaintext),
            context=_b64(context.encode()),
            mount_point=self.mount,
        )
        return str(reply["data"]["ciphertext"])

    async def decrypt(self, ciphertext: str, context: str) -> bytes:
        if not ciphertext.startswith("vault:v"):
            raise CipherError("not a Vault transit ciphertext")
        reply = await self._call(
            self.client.secrets.transit.decrypt_data,
            name=self.key,
            ciphertext=ciphertext,
            context=_b64(context.encode()),
            mount_point=self.mount,
        )
        try:
            return base64.b64decode(reply["data"]["plaintext"], validate=True)
        except (binascii.Error, ValueError, KeyError, TypeError):
            raise CipherError("Vault returned no plaintext") from None

    async def rewrap(self, ciphertext: str, context: str) -> str:
        reply = await self._call(
            self.client.secrets.transit.rewrap_data,
            name=self.key,
            ciphertext=ciphertext,
            context=_b64(context.encode()),
            mount_point=self.mount,
        )
        return str(reply["data"]["ciphertext"])

    async def rotate(self) -> None:
        await self._call(
            self.client.secrets.transit.rotate_key, name=self.key, mount_point=self.mount
        )

    async def close(self) -> None:
        await asyncio.to_thread(self.client.adapter.close)

    async def _call(self, fn: Callable[..., T], **kwargs: Any) -> T:
        try:
            return await asyncio.to_thread(fn, **kwargs)
        except _UNREACHABLE as exc:
            raise CipherUnavailable(f"Vault is unavailable: {type(exc).__name__}") from None
        except (hvac.exceptions.InvalidRequest, hvac.exceptions.InvalidPath) as exc:
            raise CipherError(f"Vault refused the operation: {exc.errors or exc}") from None
        except hvac.exceptions.VaultError as exc:
            raise CipherUnavailable(f"Vault failed: {type(exc).__name__}") from None
