"""`make run` as a newcomer meets it: five healthy services on an embedded NATS, clean Ctrl-C."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest


def processes_with(marker: str) -> list[int]:
    """PIDs whose environment mentions ``marker`` (our unique data dir)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            if marker.encode() in (proc / "environ").read_bytes():
                found.append(int(proc.name))
        except OSError:
            continue
    return found


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_stack_starts_five_healthy_services_and_stops_cleanly(tmp_path: Path) -> None:
    data = tmp_path / "stack-data"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BYOK_", "VAULT_"))}
    env["BYOK_DATA_DIR"] = str(data)
    proc = subprocess.Popen(
        [sys.executable, "-m", "byok_shared.stack"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "services healthy" in line:
                break
        assert any("all 5 services healthy" in line for line in lines), "".join(lines[-40:])
        assert len(processes_with(str(data))) >= 6  # the services and the gateway, each its own
        gateway = re.search(r"HTTP gateway at (http://127\.0\.0\.1:\d+);", "".join(lines))
        assert gateway, "".join(lines[-40:])
        with urllib.request.urlopen(f"{gateway.group(1)}/healthz", timeout=5) as reply:  # noqa: S310
            assert json.loads(reply.read())["nats"] is True
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=30)
        lines.append(rest)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    output = "".join(lines)
    assert proc.returncode == 0, output[-4000:]
    assert "byok: stopped" in output
    assert (data / "nats").is_dir()  # JetStream stored under BYOK_DATA_DIR
    time.sleep(0.5)
    assert processes_with(str(data)) == [], "processes left running after Ctrl-C"
