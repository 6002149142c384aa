"""byok client for product backends and chat runtimes.

Every call sends its contract model (checked before it leaves), seals keys
before they leave the process, and raises one error tree, re-exported here
whole from :mod:`byok_contracts.errors`: :class:`ByokError` and its subclasses,
each carrying the reply's registered ``error`` word (or a client-side word:
``no_responders``, ``timeout``, ``payload_too_large``, ...).
"""

from __future__ import annotations

from byok_contracts import errors as _errors
from byok_contracts.errors import *  # noqa: F403

from .base import ScopeLike, as_scope
from .client import ByokClient
from .runtime import Resolution

__all__ = ["ByokClient", "Resolution", "ScopeLike", "as_scope"]
__all__ += _errors.__all__
