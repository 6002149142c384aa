"""Ports of the resolver: where key material comes from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

__all__ = ["KeySource", "Material"]


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
