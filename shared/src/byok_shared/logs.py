"""Structured logging with secret redaction.

Every handler installed here carries :class:`RedactingFilter`, which masks
anything shaped like a provider key in the message, its arguments, extra
fields and the formatted traceback, before any formatter sees the record.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from .tracing import current_trace_id

__all__ = [
    "JsonFormatter",
    "RedactingFilter",
    "configure_logging",
    "correlation_id",
    "install_redaction",
    "redact",
]

correlation_id: ContextVar[str | None] = ContextVar("byok_correlation_id", default=None)
"""The id of the message being handled (set by the service runner), logged with each line."""

_KEY_SHAPES = re.compile(r"(?P<prefix>sk-ant-|sk-|AIza)(?P<body>[A-Za-z0-9_\-]{8,})")
_STANDARD_ATTRS = frozenset(
    vars(logging.LogRecord("x", 0, "x", 0, "x", None, None)).keys() | {"message", "asctime"}
)


def redact(text: str) -> str:
    """Mask every provider-key-shaped token in ``text``, keeping only its prefix."""
    return _KEY_SHAPES.sub(lambda m: f"{m.group('prefix')}[REDACTED]", text)


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, bytes):
        return redact(value.decode("utf-8", "replace"))
    if isinstance(value, dict):
        return {k: _redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(v) for v in value]
    return value


class RedactingFilter(logging.Filter):
    """Rewrites a record so no key-shaped text survives in any of its parts."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        for name, value in list(vars(record).items()):
            if name not in _STANDARD_ATTRS:
                setattr(record, name, _redact_value(value))
        return True


_redactor = RedactingFilter()
_base_factory = logging.getLogRecordFactory()


def _redacting_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
    record = _base_factory(*args, **kwargs)
    _redactor.filter(record)
    return record


def install_redaction() -> None:
    """Redact every record at creation, so no handler (pytest's included) sees a key."""
    if logging.getLogRecordFactory() is not _redacting_factory:
        logging.setLogRecordFactory(_redacting_factory)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, service, logger, message, extras."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if (cid := correlation_id.get()) is not None:
            entry["correlation_id"] = cid
        if (trace_id := current_trace_id()) is not None:
            entry["trace_id"] = trace_id
        for name, value in vars(record).items():
            if name not in _STANDARD_ATTRS:
                entry[name] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc"] = record.exc_text
        return json.dumps(entry, default=str)


class _FrameworkNoise(logging.Filter):
    """Drops faststream's per-task "callback for Task-N is being executed..." line: it is
    logged at INFO for every finished handler task, thousands per second under load. Its
    "Connection broken with ..." warning stays, as one line: the traceback of a lost
    connection (a server restart) says nothing more."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.msg)
        if message.startswith("Connection broken"):
            record.exc_info = record.exc_text = None
        return "is being executed" not in message


def quiet_framework() -> None:
    """Keep faststream's own bookkeeping out of the logs (idempotent)."""
    for name in ("faststream", "faststream.access.nats"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _FrameworkNoise) for f in logger.filters):
            logger.addFilter(_FrameworkNoise())


def configure_logging(service: str, level: str = "INFO", fmt: str = "json") -> None:
    """Route every logger to stderr through the redaction filter."""
    install_redaction()
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter())
    if fmt == "json":
        handler.setFormatter(JsonFormatter(service))
    else:
        handler.setFormatter(
            logging.Formatter(f"%(asctime)s {service} %(levelname)s %(name)s: %(message)s")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # faststream logs every message at INFO, and uvicorn each step of its start and stop;
    # byok says "ready" itself. Their warnings and errors still show.
    for framework in ("faststream", "uvicorn.error"):
        logging.getLogger(framework).setLevel(max(logging.WARNING, root.level))
    quiet_framework()
