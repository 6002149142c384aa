"""How a byok process connects to NATS: its user, password or creds, and inbox prefix.

The permissions behind those users are in :mod:`byok_shared.natsauth`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .settings import ByokSettings

if TYPE_CHECKING:
    from faststream.nats.security import NatsSecurity

__all__ = ["broker_security", "connect_options"]


def connect_options(settings: ByokSettings) -> dict[str, Any]:
    """``nats.connect`` keyword arguments for the user, password or creds and inbox prefix."""
    options: dict[str, Any] = {"inbox_prefix": settings.nats_inbox_prefix}
    if settings.nats_creds is not None:
        options["user_credentials"] = str(settings.nats_creds)
    elif settings.nats_user is not None:
        options["user"] = settings.nats_user
        if settings.nats_password is not None:
            options["password"] = settings.nats_password.get_secret_value()
    return options


def broker_security(settings: ByokSettings) -> NatsSecurity | None:
    """The faststream ``security=`` of the same credentials (None without auth)."""
    from faststream.nats.security import NatsCredentials, NatsUserPassword

    if settings.nats_creds is not None:
        return NatsCredentials.from_file(settings.nats_creds)
    if settings.nats_user is not None:
        password = settings.nats_password.get_secret_value() if settings.nats_password else ""
        return NatsUserPassword(settings.nats_user, password)
    return None
