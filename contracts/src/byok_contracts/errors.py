"""The byok error tree, shared by every service and the client.

Each error maps to one HTTP-like ``code`` and a machine ``error`` word; services
turn them into the error reply contract at the edge and the client raises them
back from error replies.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "ByokError",
    "Conflict",
    "CreditsExhausted",
    "Forbidden",
    "InternalError",
    "KeyRejected",
    "MalformedRequest",
    "NotFound",
    "Unavailable",
    "Unprocessable",
    "WrongAccount",
    "error_for_code",
]


class ByokError(Exception):
    """Base of every error that becomes an error reply.

    A subclass names its reply ``code`` and default ``error`` word in its bases:
    ``class NotFound(ByokError, code=404, word="not_found")``.
    """

    code: ClassVar[int] = 500
    default_error: ClassVar[str] = "internal"

    def __init_subclass__(cls, *, code: int | None = None, word: str | None = None) -> None:
        super().__init_subclass__()
        if code is not None:
            cls.code = code
        if word is not None:
            cls.default_error = word

    def __init__(self, message: str, *, error: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.error = error or self.default_error

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code}, error={self.error!r}, message={self.message!r})"


class MalformedRequest(ByokError, code=400, word="malformed_request"):
    """The request is not what the subject takes (schema, seal, ids)."""


class KeyRejected(ByokError, code=401, word="key_rejected"):
    """The provider refused the key."""


class CreditsExhausted(ByokError, code=402, word="credits_exhausted"):
    """Platform usage with no credits left."""


class Forbidden(ByokError, code=403, word="forbidden"):
    """Not allowed here: a read-only scope, BYOK off the plan, an unregistered recipient."""


class WrongAccount(Forbidden, word="wrong_account"):
    """The scope belongs to another account (tenancy, DESIGN.md section 3)."""


class NotFound(ByokError, code=404, word="not_found"):
    """No such key, or no key configured where one was asked for."""


class Conflict(ByokError, code=409, word="conflict"):
    """The state changed meanwhile, or forbids the change (a disabled or revoked key)."""


class Unprocessable(ByokError, code=422, word="unprocessable"):
    """Well formed but unusable: an unrecognised key format, a model not allowed."""


class Unavailable(ByokError, code=503, word="unavailable"):
    """A dependency is down or slow (provider, Vault, JetStream, another service)."""


class InternalError(ByokError):
    """A bug: reported as 500 ``internal``, with no detail."""


_BY_CODE: dict[int, type[ByokError]] = {
    cls.code: cls
    for cls in (
        MalformedRequest,
        KeyRejected,
        CreditsExhausted,
        Forbidden,
        NotFound,
        Conflict,
        Unprocessable,
        Unavailable,
        InternalError,
    )
}


def error_for_code(code: int, message: str, error: str) -> ByokError:
    """Rebuild the typed error of an error reply (used by clients)."""
    cls = _BY_CODE.get(code, InternalError)
    return cls(message, error=error)
