"""Ports of the resolver: where key material and stored state come from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from byok_contracts.v1 import Resolve

__all__ = ["KeySource", "Material", "StateLoader"]


@dataclass(frozen=True, slots=True)
class Material:
    """A provider key in clear, in this process's memory only. Never repr'd or logged."""

    key_id: str
    provider: str
    revision: int
    secret: bytes = field(repr=False)

    def __repr__(self) -> str:
        return f"Material(key_id={self.key_id!r}, provider={self.provider!r}, secret=<redacted>)"


class KeySource(Protocol):
    """Gives the resolver the material of a stored key (key-vault, over a sealed hop)."""

    async def unseal(self, key_id: str) -> Material:
        """Return the key's material; raise a :class:`byok_contracts.ByokError` if it cannot."""
        ...


class StateLoader(Protocol):
    """Loads what a request reads (scopes, account) into the cache, from KV."""

    async def load(self, request: Resolve) -> None:
        """Return once every scope and account of ``request`` is present in the cache."""
        ...
