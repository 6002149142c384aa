"""byok client for product backends and chat runtimes.

Every call seals keys before they leave the process and raises the typed
errors of :mod:`byok_contracts.errors` on error replies.
"""

from __future__ import annotations

from .client import ByokClient

__all__ = ["ByokClient"]
