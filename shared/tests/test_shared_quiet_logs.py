"""Framework bookkeeping stays out of the logs (issue 12: "quiet logs")."""

from __future__ import annotations

import logging

import pytest

from byok_shared.logs import quiet_framework


def test_faststream_task_callbacks_are_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    quiet_framework()
    quiet_framework()  # idempotent: one filter, not two
    logger = logging.getLogger("faststream.access.nats")
    assert len(logger.filters) == 1
    with caplog.at_level(logging.INFO, logger="faststream.access.nats"):
        logger.info("callback for Task-17 is being executed...")
        logger.info("a message a byok operator wants to see")
    assert [r.getMessage() for r in caplog.records] == ["a message a byok operator wants to see"]
