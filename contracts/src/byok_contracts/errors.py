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
    """Base of every error that becomes an error reply."""

    code: ClassVar[int] = 500
    default_error: ClassVar[str] = "internal"

    def __init__(self, message: str, *, error: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.error = error or self.default_error

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code}, error={self.error!r}, message={self.message!r})"


class MalformedRequest(ByokError):
    code = 400
    default_error = "malformed_request"


class KeyRejected(ByokError):
    code = 401
    default_error = "key_rejected"


class CreditsExhausted(ByokError):
    code = 402
    default_error = "credits_exhausted"


class Forbidden(ByokError):
    code = 403
    default_error = "forbidden"


class WrongAccount(Forbidden):
    """The scope belongs to another account (tenancy, DESIGN.md section 3)."""

    default_error = "wrong_account"


class NotFound(ByokError):
    code = 404
    default_error = "not_found"


class Conflict(ByokError):
    code = 409
    default_error = "conflict"


class Unprocessable(ByokError):
    code = 422
    default_error = "unprocessable"


class Unavailable(ByokError):
    code = 503
    default_error = "unavailable"


class InternalError(ByokError):
    code = 500
    default_error = "internal"


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
