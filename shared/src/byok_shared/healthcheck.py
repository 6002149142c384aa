"""Container health check: ``python -m byok_shared.healthcheck <service>``, exit 0 or 1.

Asks ``byok.v1.health.<service>`` over NATS with the process's own settings
(``BYOK_NATS_URL``, ``BYOK_NATS_USER``/``BYOK_NATS_PASSWORD``,
``BYOK_NATS_INBOX_PREFIX``), so it checks what the service needs: the cluster
is reachable, the credentials work, the service answers. When
``BYOK_METRICS_PORT`` is set it also reads this container's own metrics
endpoint, because with several replicas the NATS answer may come from another
one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import urllib.request
from collections.abc import Sequence

import nats

from byok_contracts import subjects

from .connect import connect_options
from .settings import ByokSettings

__all__ = ["check", "main"]


async def check(service: str, settings: ByokSettings, timeout: float = 3.0) -> str | None:
    """None when ``service`` is healthy, else why not."""
    errors: list[Exception] = []

    async def on_error(exc: Exception) -> None:
        errors.append(exc)

    try:
        # nats-py may keep retrying a refused first connect: bound it ourselves.
        nc = await asyncio.wait_for(
            nats.connect(
                settings.server_urls,
                connect_timeout=timeout,
                allow_reconnect=False,
                error_cb=on_error,
                **connect_options(settings),
            ),
            timeout,
        )
    except Exception as exc:
        return f"cannot connect to NATS: {(errors or [exc])[-1]!r}"
    try:
        reply = await nc.request(subjects.health(service), b"{}", timeout=timeout)
        body = json.loads(reply.data)
    except Exception as exc:
        return f"no health reply from {service}: {exc!r}"
    finally:
        await nc.close()
    if not isinstance(body, dict) or body.get("status") != "ok" or body.get("service") != service:
        return f"unexpected health reply: {body!r}"
    if settings.metrics_port is not None:
        return _local_metrics(settings.metrics_port, timeout)
    return None


def _local_metrics(port: int, timeout: float) -> str | None:
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            if b"byok_up" not in response.read():
                return f"{url} does not report byok_up"
    except OSError as exc:
        return f"metrics endpoint down: {exc!r}"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m byok_shared.healthcheck")
    parser.add_argument("service", choices=subjects.SERVICES)
    parser.add_argument("--timeout", type=float, default=3.0)
    args = parser.parse_args(argv)
    problem = asyncio.run(check(args.service, ByokSettings(), args.timeout))
    if problem is not None:
        print(f"unhealthy: {problem}", file=sys.stderr)
        return 1
    print(f"{args.service}: ok")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
