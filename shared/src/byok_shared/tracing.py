"""OpenTelemetry tracing through faststream's NATS middleware, off by default.

``BYOK_OTEL_ENABLED=1`` turns it on for a service; spans go to the OTLP/HTTP
exporter, which reads the standard ``OTEL_EXPORTER_OTLP_ENDPOINT`` (and the
other ``OTEL_EXPORTER_OTLP_*`` variables). The OpenTelemetry packages are the
optional ``byok-shared[otel]`` extra and are imported only when enabled.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from .settings import ByokSettings

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

__all__ = ["current_trace_id", "telemetry_middlewares", "tracer_provider"]


def tracer_provider(service: str, exporter: SpanExporter | None = None) -> TracerProvider:
    """A provider naming the service ``byok-<service>``, exporting in batches over OTLP."""
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    if exporter is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: f"byok-{service}"}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def telemetry_middlewares(
    service: str, settings: ByokSettings, provider: TracerProvider | None = None
) -> tuple[Any, ...]:
    """The broker middlewares for ``service``: the tracing one when enabled, else none."""
    if not settings.otel_enabled:
        return ()
    from faststream.nats.opentelemetry import NatsTelemetryMiddleware

    return (NatsTelemetryMiddleware(tracer_provider=provider or tracer_provider(service)),)


def current_trace_id() -> str | None:
    """The active span's trace id in hex, for log correlation (None without tracing)."""
    if "opentelemetry.trace" not in sys.modules:  # never imported, so no span can be active
        return None
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None
