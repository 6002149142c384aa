"""``ByokClient``: the one object product backends and runtimes use."""

from __future__ import annotations

from .audit import AuditMixin
from .base import BaseClient
from .keys import KeysMixin
from .ledger import LedgerMixin
from .runtime import RuntimeMixin

__all__ = ["ByokClient"]


class ByokClient(RuntimeMixin, KeysMixin, LedgerMixin, AuditMixin, BaseClient):
    """Typed access to every byok v1 subject, sealing done inside."""
