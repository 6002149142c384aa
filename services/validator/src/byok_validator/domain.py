"""Pure rules of validation: reading a provider's answer, backoff, report gating."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum

from byok_shared.logs import redact

__all__ = [
    "AUTH_FAILURES",
    "Check",
    "Outcome",
    "ReportGate",
    "backoff_delays",
    "classify",
    "provider_message",
    "should_revalidate",
]

# Runtime-reported codes worth a re-validation; only the provider's own rejection revokes.
AUTH_FAILURES = frozenset({401, 403})


class Outcome(StrEnum):
    VALID = "valid"
    REJECTED = "rejected"
    TRANSIENT = "transient"  # retry: 429, 5xx, timeouts, connection errors
    UNEXPECTED = "unexpected"  # any other answer: not retried, never a rejection


@dataclass(frozen=True, slots=True)
class Check:
    outcome: Outcome
    message: str = ""


def provider_message(body: bytes, key: str | None = None) -> str:
    """The provider's own error message from its JSON body (all three nest it under error)."""
    try:
        data = json.loads(body)
    except ValueError:
        text = body.decode("utf-8", "replace").strip()[:200]
    else:
        error = data.get("error") if isinstance(data, dict) else None
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            text = error["message"]
        elif isinstance(error, str):
            text = error
        else:
            text = ""
    if key:
        text = text.replace(key, "[REDACTED]")
    return redact(text)[:300] or "the provider gave no reason"


def _gemini_key_invalid(body: bytes) -> bool:
    try:
        details = json.loads(body)["error"].get("details", [])
    except (ValueError, KeyError, TypeError, AttributeError):
        return False
    return any(isinstance(d, dict) and d.get("reason") == "API_KEY_INVALID" for d in details)


def classify(provider: str, status: int, body: bytes, key: str | None = None) -> Check:
    """What a model-list answer says about the key."""
    if 200 <= status < 300:
        return Check(Outcome.VALID)
    if status in (401, 403) or (
        provider == "gemini" and status == 400 and _gemini_key_invalid(body)
    ):
        return Check(Outcome.REJECTED, provider_message(body, key))
    if status in (408, 409, 425, 429) or status >= 500:
        return Check(Outcome.TRANSIENT, f"HTTP {status}: {provider_message(body, key)}")
    return Check(Outcome.UNEXPECTED, f"HTTP {status}: {provider_message(body, key)}")


def backoff_delays(attempts: int, base: float) -> list[float]:
    """Sleeps between attempts: base, 2*base, 4*base, ..."""
    return [base * (2**i) for i in range(max(0, attempts - 1))]


def should_revalidate(status_code: int) -> bool:
    return status_code in AUTH_FAILURES


@dataclass
class ReportGate:
    """At most one re-validation per key per ``window`` seconds."""

    window: float
    _last: dict[str, float] = field(default_factory=dict)

    def admit(self, key_id: str, now: float) -> bool:
        last = self._last.get(key_id)
        if last is not None and now - last < self.window:
            return False
        self._last[key_id] = now
        if len(self._last) > 10_000:  # forget the oldest half; this is a rate limit, not a log
            for stale in sorted(self._last, key=self._last.__getitem__)[:5_000]:
                del self._last[stale]
        return True

    def forget(self, key_id: str) -> None:
        self._last.pop(key_id, None)
