"""How a byok process connects to NATS: its servers, user, password or creds, inbox prefix.

The permissions behind those users are in :mod:`byok_shared.natsauth`. A process
given no user (``BYOK_NATS_USER``/``BYOK_NATS_CREDS``) but a ``role`` logs in with
the credentials ``make run`` keeps for that role under ``BYOK_DATA_DIR``, when
there are any (:func:`byok_shared.natsconfig.local_credentials`).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import nats.errors
from nats.aio.client import Client as NatsClient

from .settings import ByokSettings

if TYPE_CHECKING:
    from faststream.nats.security import NatsSecurity

__all__ = ["broker_security", "connect_options", "disconnect", "log_nats_error", "server_urls"]

log = logging.getLogger(__name__)


async def log_nats_error(exc: Exception) -> None:
    """An ``error_cb`` of one line: nats-py's default logs a traceback for every lost
    connection (each restart of the server), which says no more than this."""
    log.warning("NATS: %s", exc)


async def disconnect(nc: NatsClient) -> None:
    """Drain when connected (in-flight work finishes), else close: a drain while the
    server is gone raises, and a stop must not wait for it to come back."""
    if nc.is_connected:
        try:
            await nc.drain()
            return
        except nats.errors.Error:
            pass
    if not nc.is_closed:
        await nc.close()


def connect_options(settings: ByokSettings, role: str | None = None) -> dict[str, Any]:
    """``nats.connect`` keyword arguments for the user, password or creds and inbox prefix."""
    from .natsconfig import local_credentials  # not at import: `python -m ...natsauth` runs it

    options: dict[str, Any] = {"inbox_prefix": settings.nats_inbox_prefix}
    if settings.nats_creds is not None:
        options["user_credentials"] = str(settings.nats_creds)
    elif settings.nats_user is not None:
        options["user"] = settings.nats_user
        if settings.nats_password is not None:
            options["password"] = settings.nats_password.get_secret_value()
    elif role is not None and (local := local_credentials(settings.data_dir, role)) is not None:
        options.update(user=local.user, password=local.password, inbox_prefix=local.inbox_prefix)
    return options


def server_urls(settings: ByokSettings, role: str | None = None) -> list[str]:
    """``BYOK_NATS_URL`` (one URL or a comma-separated list), else the URL of the local
    ``make run`` server when ``role`` has credentials there, else the default."""
    from .natsconfig import local_credentials

    if settings.nats_url is None and role is not None:
        local = local_credentials(settings.data_dir, role)
        if local is not None and local.servers:
            return local.servers
    return settings.server_urls


def broker_security(settings: ByokSettings) -> NatsSecurity | None:
    """The faststream ``security=`` of the same credentials (None without auth)."""
    from faststream.nats.security import NatsCredentials, NatsUserPassword

    if settings.nats_creds is not None:
        return NatsCredentials.from_file(settings.nats_creds)
    if settings.nats_user is not None:
        password = settings.nats_password.get_secret_value() if settings.nats_password else ""
        return NatsUserPassword(settings.nats_user, password)
    return None
