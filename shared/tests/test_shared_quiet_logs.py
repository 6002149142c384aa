"""Framework bookkeeping stays out of the logs (issue 12: "quiet logs")."""

from __future__ import annotations

import logging

import pytest

from byok_shared.logs import quiet_framework


def test_faststream_task_callbacks_are_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    quiet_framework()
    quiet_framework()  # idempotent: one filter, not two
    logger = logging.getLogger("faststream.access.nats")
    assert sum(type(f).__name__ == "_FrameworkNoise" for f in logger.filters) == 1
    # faststream's own logger may not propagate to the root: listen on it directly.
    logger.addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.INFO, logger="faststream.access.nats"):
            logger.info("callback for Task-17 is being executed...")
            logger.info("a message a byok operator wants to see")
    finally:
        logger.removeHandler(caplog.handler)
    messages = [r.getMessage() for r in caplog.records if r.name == "faststream.access.nats"]
    assert set(messages) == {"a message a byok operator wants to see"}
