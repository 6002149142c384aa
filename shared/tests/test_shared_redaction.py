"""No provider key survives into a log line, whatever part of the record carries it."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from byok_shared.logs import JsonFormatter, RedactingFilter, redact

ANTHROPIC = "sk-ant-api03-" + "Zx9_" * 20
OPENAI = "sk-proj-" + "Q1w2E3r4" * 6
GEMINI = "AIzaSy" + "B" * 33


@pytest.mark.parametrize("key", [ANTHROPIC, OPENAI, GEMINI])
def test_redact_masks_every_key_shape(key: str) -> None:
    out = redact(f"the key {key}, again:{key}!")
    assert key[8:20] not in out
    assert "[REDACTED]" in out


def test_redact_leaves_ordinary_text() -> None:
    text = "resolved workspace:acme via rule 2 for sk- prefix discussion"
    assert redact(text) == text


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(JsonFormatter("test"))
    logger = logging.getLogger("byok.test.redaction")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)


def test_message_args_extras_and_tracebacks_are_redacted(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = captured
    logger.info(
        "configured %s", ANTHROPIC, extra={"body": {"api_key": OPENAI}, "raw": GEMINI.encode()}
    )
    try:
        raise ValueError(f"provider refused {OPENAI}")
    except ValueError:
        logger.exception("failed for %r", {"k": GEMINI})
    logger.warning("stack", stack_info=True, extra={"note": ANTHROPIC})
    text = stream.getvalue()
    for key in (ANTHROPIC, OPENAI, GEMINI):
        assert key not in text
        assert key[10:30] not in text
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    assert lines[0]["msg"] == "configured sk-ant-[REDACTED]"
    assert lines[0]["body"] == {"api_key": "sk-[REDACTED]"}
    assert "ValueError" in lines[1]["exc"]
