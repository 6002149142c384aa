"""``ByokClient``: the one object product backends and runtimes use."""

from __future__ import annotations

from .base import BaseClient
from .keys import KeysMixin

__all__ = ["ByokClient"]


class ByokClient(KeysMixin, BaseClient):
    """Typed access to every byok v1 subject, sealing done inside."""
