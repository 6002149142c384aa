"""byok shared plumbing: settings, NATS, JetStream bootstrap, logging, metrics, runner.

No domain logic lives here.
"""

from __future__ import annotations

from .jetstream import Bucket, ensure_jetstream
from .logs import configure_logging, redact
from .metrics import Metrics
from .provision import NotProvisioned, provision_jetstream, verify_jetstream
from .responder import respond
from .service import Service, run_service
from .settings import ByokSettings

__all__ = [
    "Bucket",
    "ByokSettings",
    "Metrics",
    "NotProvisioned",
    "Service",
    "configure_logging",
    "ensure_jetstream",
    "provision_jetstream",
    "redact",
    "respond",
    "run_service",
    "verify_jetstream",
]
