"""``python -m byok_gateway``: serve the gateway with uvicorn (TLS when a cert is given)."""

from __future__ import annotations

import uvicorn

from byok_shared.logs import configure_logging
from byok_shared.settings import ByokSettings

from .app import create_app
from .config import GatewaySettings


def main() -> None:
    settings = ByokSettings()
    gateway = GatewaySettings()
    configure_logging("gateway", settings.log_level, settings.log_format)
    tls: dict[str, str] = {}
    if gateway.http_tls_cert is not None and gateway.http_tls_key is not None:
        tls = {"ssl_certfile": str(gateway.http_tls_cert), "ssl_keyfile": str(gateway.http_tls_key)}
    scheme = "https" if tls else "http"
    print(f"byok gateway: {scheme}://{gateway.http_host}:{gateway.http_port}", flush=True)
    uvicorn.run(
        create_app(settings, gateway),
        host=gateway.http_host,
        port=gateway.http_port,
        access_log=False,  # byok.gateway.access logs route templates, never bodies or queries
        log_config=None,  # keep byok's redacting handlers
        server_header=False,
        proxy_headers=False,
        **tls,  # type: ignore[arg-type]
    )


if __name__ == "__main__":
    main()
