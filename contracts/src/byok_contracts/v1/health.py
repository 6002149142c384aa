"""``byok.v1.health.<service>``."""

from __future__ import annotations

from typing import Literal

from .common import Reply, Request

__all__ = ["Health", "HealthRequest"]


class HealthRequest(Request):
    pass


class Health(Reply):
    status: Literal["ok"] = "ok"
    service: str
    version: str
