"""``ByokClient``: the one object product backends and runtimes use."""

from __future__ import annotations

from .base import BaseClient

__all__ = ["ByokClient"]


class ByokClient(BaseClient):
    """Typed access to every byok v1 subject, sealing done inside."""
