"""What every service's edge shares beyond the reply guarantee.

- :class:`Started`: what a service builds in its start hook (its use cases and their
  adapters), read by its handlers. Start hooks run before any subscriber joins, so a
  handler never meets it empty.
- :func:`account_check`: the tenant check of a per-account subject
  (``byok.v1.resolve.<account>``): the subject's account must be the body's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from pydantic import BaseModel

from byok_contracts import WrongAccount
from byok_contracts.operations import Operation

__all__ = ["AccountCheck", "Started", "account_check"]

T = TypeVar("T")

AccountCheck = Callable[[str, BaseModel], None]


class Started(Generic[T]):
    """One value built at start: ``set`` it in the start hook, call the cell to read it."""

    def __init__(self, what: str) -> None:
        self._what = what
        self._value: T | None = None

    def set(self, value: T) -> T:
        self._value = value
        return value

    def __call__(self) -> T:
        if self._value is None:  # a wiring bug: subscribers join only after the start hooks
            raise RuntimeError(f"{self._what} is used before the service started")
        return self._value

    def take(self) -> T | None:
        """The value, forgotten (for the stop hook); None when the start never built it."""
        value, self._value = self._value, None
        return value


def account_check(op: Operation) -> AccountCheck | None:
    """For an operation whose subject names an account: a check that the body's
    ``account`` is the subject's (403 ``wrong_account`` otherwise). None for the others."""
    tokens = op.subject.split(".")
    if "{account}" not in tokens:
        return None
    index = tokens.index("{account}")

    def check(subject: str, request: BaseModel) -> None:
        parts = subject.split(".")
        named = parts[index] if index < len(parts) else None
        if getattr(request, "account", None) != named:
            raise WrongAccount("The body's account is not the subject's account")

    return check
