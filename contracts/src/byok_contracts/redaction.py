"""Provider-key shapes, for the contract: free text is redacted, identifiers refuse keys.

A key pasted into the wrong field must not be stored, published or echoed. Free-text
fields (``actor``, ``reason``, error messages) keep their text with every key-shaped
token masked; identifiers (scope ids, accounts, request ids, models) are refused with
a 400 that does not repeat them. ``byok_shared.logs`` masks the same shapes in logs.
"""

from __future__ import annotations

import re

__all__ = ["KEY_SHAPES", "looks_like_a_key", "redact_secrets", "refuse_keys"]

KEY_SHAPES = re.compile(r"(?P<prefix>sk-ant-|sk-|AIza)(?P<body>[A-Za-z0-9_\-]{8,})")


def redact_secrets(text: str) -> str:
    """Mask every provider-key-shaped token in ``text``, keeping only its prefix."""
    return KEY_SHAPES.sub(lambda m: f"{m.group('prefix')}[REDACTED]", text)


def looks_like_a_key(text: str) -> bool:
    return KEY_SHAPES.search(text) is not None


def refuse_keys(text: str) -> str:
    """Validator of identifiers: a key-shaped value is refused (never stored or echoed)."""
    if looks_like_a_key(text):
        raise ValueError("looks like a provider key; keys go only in sealed_key")
    return text
