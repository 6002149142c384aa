"""The gateway ASGI app: FastAPI over the v1 NATS contract, one NATS user, no state.

``create_app(settings)`` builds the app; its lifespan connects to NATS as the
``gateway`` user (``BYOK_NATS_USER`` etc.), starts the token watch and stops
both on shutdown. Any number of replicas can run side by side: tokens live in
the ``byok-api-tokens`` bucket, end-user tokens are verified by signature.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import nats
from fastapi import FastAPI

from byok_client import ByokClient
from byok_contracts import Catalog
from byok_shared.apitokens import ApiTokenStore
from byok_shared.connect import connect_options, disconnect, log_nats_error
from byok_shared.settings import ByokSettings

from . import routes_accounts, routes_auth, routes_keys, routes_waypath, settings_page
from .config import GatewaySettings, load_secret
from .endusers import EndUserTokens
from .middleware import GatewayMiddleware
from .problems import install_error_handlers
from .ratelimit import RateLimiter
from .state import GatewayState
from .tokens import TokenVerifier

__all__ = ["VERSION", "create_app"]

VERSION = "0.2.0"
_DESCRIPTION = """\
The HTTP API of byok, a bring-your-own-LLM-key control plane: everything a product
backend can do over the v1 NATS contract, plus the Waypath-compatible endpoints.

Authentication: `Authorization: Bearer <token>` with an API token issued by the
operator (`byok tokens create`) or an end-user token minted with
`POST /v1/end-user-tokens`. Errors are the v1 error body
`{"status": "error", "code", "error", "message"}` with the HTTP status equal to `code`.
"""


def create_app(
    settings: ByokSettings | None = None, gateway: GatewaySettings | None = None
) -> FastAPI:
    settings = settings or ByokSettings()
    gateway = gateway or GatewaySettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # byok.gateway.access replaces uvicorn's access log (which prints raw queries).
        logging.getLogger("uvicorn.access").disabled = True
        nc = await nats.connect(
            settings.server_urls,
            name="byok-gateway",
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,
            error_cb=log_nats_error,
            **connect_options(settings),
        )
        store = ApiTokenStore(nc.jetstream())
        end_users = EndUserTokens(load_secret(gateway, settings.data_dir))
        verifier = TokenVerifier(store, end_users, ttl=gateway.gateway_token_ttl)
        await verifier.start()
        app.state.gateway = GatewayState(
            settings=gateway,
            client=ByokClient(nc, timeout=settings.request_timeout),
            verifier=verifier,
            limiter=RateLimiter(gateway.gateway_rate, gateway.gateway_burst),
            end_users=end_users,
            catalog=Catalog.load(settings.catalog_file),
        )
        try:
            yield
        finally:
            await verifier.stop()
            await disconnect(nc)

    app = FastAPI(
        servers=[{"url": "/"}],
        title="byok gateway",
        version=VERSION,
        description=_DESCRIPTION,
        openapi_url="/openapi.json",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    install_error_handlers(app)
    for module in (routes_auth, routes_keys, routes_accounts, routes_waypath, settings_page):
        app.include_router(module.router)
    app.add_middleware(GatewayMiddleware, max_body=gateway.gateway_max_body)
    return app


def openapi_document(app: FastAPI | None = None) -> dict[str, Any]:
    """The OpenAPI 3.1 document (what ``/openapi.json`` serves)."""
    return (app or create_app()).openapi()
