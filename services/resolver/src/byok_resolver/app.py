"""Wiring of the resolver service: build everything from settings, connect nothing at import."""

from __future__ import annotations

from byok_shared import ByokSettings, Service
from faststream import FastStream

__all__ = ["SERVICE", "create_app"]

SERVICE = "resolver"


def create_app(settings: ByokSettings) -> FastStream:
    service = Service(SERVICE, settings)
    return service.app
