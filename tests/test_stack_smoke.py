"""`make run` as a newcomer meets it: five healthy services on an embedded NATS, clean Ctrl-C."""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path

import pytest

from byok_shared.testing.stack_process import StackProcess, processes_with, wait_processes_gone


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_stack_starts_five_healthy_services_and_stops_cleanly(tmp_path: Path) -> None:
    data = tmp_path / "stack-data"
    stack = StackProcess(data).start()
    try:
        text = stack.wait_healthy()
        assert "all 5 services healthy" in text, text[-4000:]
        assert len(processes_with(str(data))) >= 6  # the services and the gateway, each its own
        gateway = re.search(r"HTTP gateway at (http://127\.0\.0\.1:\d+);", text)
        assert gateway, text[-4000:]
        with urllib.request.urlopen(f"{gateway.group(1)}/healthz", timeout=30) as reply:  # noqa: S310
            assert json.loads(reply.read())["nats"] is True
    finally:
        code = stack.stop()
    output = stack.text()
    assert code == 0, output[-4000:]
    assert "byok: stopped" in output
    # Quiet logs (issue 12): each service's own lines, no framework INFO noise, and a
    # Ctrl-C without a traceback.
    for noise in (
        "Traceback",
        "FastStream app",
        "is being executed",
        "Started server process",
        "Application startup complete",
        "Uvicorn running on",
    ):
        assert noise not in output, (noise, output[-4000:])
    assert (data / "nats").is_dir()  # JetStream stored under BYOK_DATA_DIR
    wait_processes_gone(str(data))  # nothing left running after Ctrl-C
