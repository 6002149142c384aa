"""Provider detection from a key's prefix (DESIGN.md section 3)."""

from __future__ import annotations

from .errors import KeyRejected, Unprocessable

__all__ = ["PROVIDERS", "check_provider", "detect_provider"]

PROVIDERS = ("anthropic", "openai", "gemini")
_PREFIXES = {"anthropic": "sk-ant-", "gemini": "AIza", "openai": "sk-"}


def detect_provider(key: str) -> str:
    """``sk-ant-`` anthropic, ``AIza`` gemini, other ``sk-`` openai, anything else 422."""
    if key.startswith("sk-ant-"):
        return "anthropic"
    if key.startswith("AIza"):
        return "gemini"
    if key.startswith("sk-"):
        return "openai"
    raise Unprocessable(
        "Unrecognised key format: expected an Anthropic (sk-ant-), OpenAI (sk-) "
        "or Gemini (AIza) key",
        error="unrecognised_key_format",
    )


def check_provider(key: str, explicit: str | None) -> str:
    """The key's provider; an explicit provider that does not match its prefix is a 401."""
    if explicit is None:
        return detect_provider(key)
    try:
        detected = detect_provider(key)
    except Unprocessable:
        detected = None
    if detected != explicit:
        raise KeyRejected(
            f"Invalid {explicit} key: {explicit} keys start with {_PREFIXES[explicit]}",
            error="invalid_key",
        )
    return explicit
