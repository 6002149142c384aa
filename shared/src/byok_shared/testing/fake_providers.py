"""FakeProviders: a local HTTP server that answers like Anthropic, OpenAI and Gemini.

Only the model-list calls byok validates with (DESIGN.md section 7) are served,
with each provider's own auth header and its real error body shapes. Every key
is configured by the test::

    with FakeProviders() as fake:
        fake.add_key("sk-ant-api03-good...", status="valid")
        fake.add_key("sk-bad...", status="rejected")
        fake.revoke("sk-ant-api03-good...")        # the provider now rejects it
        settings = settings_for(url, tmp, **fake.settings_overrides())

Statuses: ``valid``, ``rejected``, ``rate_limited`` (429), ``error`` (500),
``slow`` (answers after ``slow_seconds``, so a client timeout fires). An unknown
key is rejected, as the real providers do. The server runs in a thread, so it
answers whatever the test's event loop is doing.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any, Literal

from .localhttp import LocalHTTPServer, OwnedServer

__all__ = ["FakeProviders", "KeyStatus"]

KeyStatus = Literal["valid", "rejected", "rate_limited", "error", "slow"]

_MODELS: dict[str, Any] = {
    "anthropic": {
        "data": [
            {
                "type": "model",
                "id": "claude-sonnet-4-6",
                "display_name": "Claude Sonnet 4.6",
                "created_at": "2026-02-17T00:00:00Z",
            },
            {
                "type": "model",
                "id": "claude-haiku-4-5",
                "display_name": "Claude Haiku 4.5",
                "created_at": "2025-10-01T00:00:00Z",
            },
        ],
        "has_more": False,
        "first_id": "claude-sonnet-4-6",
        "last_id": "claude-haiku-4-5",
    },
    "openai": {
        "object": "list",
        "data": [
            {"id": "gpt-4o-mini", "object": "model", "created": 1721172741, "owned_by": "system"},
            {"id": "gpt-4.1", "object": "model", "created": 1744316542, "owned_by": "system"},
        ],
    },
    "gemini": {
        "models": [
            {
                "name": "models/gemini-2.5-flash",
                "displayName": "Gemini 2.5 Flash",
                "supportedGenerationMethods": ["generateContent", "countTokens"],
            }
        ],
        "nextPageToken": "",
    },
}


def _masked(key: str) -> str:
    """OpenAI echoes a masked key in its 401 message; so does this fake."""
    return f"{key[:3]}{'*' * 8}{key[-4:]}" if len(key) > 8 else "****"


def _rejection(provider: str, key: str | None) -> tuple[int, dict[str, Any]]:
    if provider == "anthropic":
        return 401, {
            "type": "error",
            "error": {"type": "authentication_error", "message": "invalid x-api-key"},
            "request_id": "req_011CFakeProviders",
        }
    if provider == "openai":
        if key is None:
            message = (
                "You didn't provide an API key. You need to provide your API key in an "
                "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
            )
        else:
            message = (
                f"Incorrect API key provided: {_masked(key)}. You can find your API key at "
                "https://platform.openai.com/account/api-keys."
            )
        return 401, {
            "error": {
                "message": message,
                "type": "invalid_request_error",
                "param": None,
                "code": "invalid_api_key",
            }
        }
    return 400, {
        "error": {
            "code": 400,
            "message": "API key not valid. Please pass a valid API key.",
            "status": "INVALID_ARGUMENT",
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "API_KEY_INVALID",
                    "domain": "googleapis.com",
                    "metadata": {"service": "generativelanguage.googleapis.com"},
                }
            ],
        }
    }


def _rate_limited(provider: str) -> dict[str, Any]:
    if provider == "anthropic":
        return {
            "type": "error",
            "error": {
                "type": "rate_limit_error",
                "message": "Number of requests has exceeded your rate limit",
            },
        }
    if provider == "openai":
        return {
            "error": {
                "message": "Rate limit reached for requests",
                "type": "requests",
                "param": None,
                "code": "rate_limit_exceeded",
            }
        }
    return {
        "error": {
            "code": 429,
            "message": "Resource has been exhausted (e.g. check quota).",
            "status": "RESOURCE_EXHAUSTED",
        }
    }


def _server_error(provider: str) -> dict[str, Any]:
    if provider == "anthropic":
        return {"type": "error", "error": {"type": "api_error", "message": "Internal server error"}}
    if provider == "openai":
        return {
            "error": {
                "message": "The server had an error while processing your request. Sorry about that!",
                "type": "server_error",
                "param": None,
                "code": None,
            }
        }
    return {
        "error": {"code": 500, "message": "An internal error has occurred.", "status": "INTERNAL"}
    }


@dataclass
class _State:
    keys: dict[str, KeyStatus] = field(default_factory=dict)
    calls: Counter[str] = field(default_factory=Counter)
    slow_seconds: float = 2.0
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # One write per response, no Nagle: otherwise delayed ACKs add ~40 ms per call.
    wbufsize = 64 * 1024
    disable_nagle_algorithm = True
    server: OwnedServer

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the request line would be noise in test output."""

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        provider, key = self._route(path)
        if provider is None:
            self._send(404, {"error": {"message": f"Unknown path {path}"}})
            return
        state: _State = self.server.owner._state
        status: KeyStatus = "rejected"
        with state.lock:
            if key is not None:
                state.calls[key] += 1
                status = state.keys.get(key, "rejected")
        if provider == "anthropic" and self.headers.get("anthropic-version") is None:
            self._send(
                400,
                {
                    "type": "error",
                    "error": {
                        "type": "invalid_request_error",
                        "message": "anthropic-version: header is required",
                    },
                },
            )
            return
        if status == "slow":
            time.sleep(state.slow_seconds)
            status = "valid"
        if status == "valid":
            self._send(200, _MODELS[provider])
        elif status == "rate_limited":
            self._send(429, _rate_limited(provider), {"retry-after": "1"})
        elif status == "error":
            self._send(500, _server_error(provider))
        else:
            code, body = _rejection(provider, key)
            self._send(code, body)

    def _route(self, path: str) -> tuple[str | None, str | None]:
        if path == "/anthropic/v1/models":
            return "anthropic", self.headers.get("x-api-key")
        if path == "/openai/v1/models":
            auth = self.headers.get("authorization", "")
            return "openai", auth[len("Bearer ") :] if auth.startswith("Bearer ") else None
        if path == "/gemini/v1beta/models":
            return "gemini", self.headers.get("x-goog-api-key")
        return None, None

    def _send(self, code: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


class FakeProviders(LocalHTTPServer):
    """Anthropic, OpenAI and Gemini model-list endpoints on one local port."""

    name = "fake-providers"
    handler = _Handler

    def __init__(self, *, slow_seconds: float = 2.0) -> None:
        self._state = _State(slow_seconds=slow_seconds)
        super().__init__()

    # where it listens ----------------------------------------------------------

    @property
    def anthropic_url(self) -> str:
        return f"{self.base_url}/anthropic"

    @property
    def openai_url(self) -> str:
        return f"{self.base_url}/openai"

    @property
    def gemini_url(self) -> str:
        return f"{self.base_url}/gemini"

    def settings_overrides(self) -> dict[str, str]:
        """``ByokSettings`` fields pointing every provider at this fake."""
        return {
            "anthropic_base_url": self.anthropic_url,
            "openai_base_url": self.openai_url,
            "gemini_base_url": self.gemini_url,
        }

    def env(self) -> dict[str, str]:
        """The same as ``BYOK_*`` environment variables, for subprocesses."""
        return {f"BYOK_{k.upper()}": v for k, v in self.settings_overrides().items()}

    # behaviour -----------------------------------------------------------------
    def add_key(self, key: str, status: KeyStatus = "valid") -> str:
        """Make the provider answer ``status`` for ``key``; returns the key."""
        with self._state.lock:
            self._state.keys[key] = status
        return key

    def set_status(self, key: str, status: KeyStatus) -> None:
        self.add_key(key, status)

    def revoke(self, key: str) -> None:
        """The provider revoked ``key``: from now on it is rejected."""
        self.add_key(key, "rejected")

    def calls(self, key: str) -> int:
        """How many model-list calls arrived with ``key``."""
        with self._state.lock:
            return self._state.calls[key]

    @property
    def total_calls(self) -> int:
        with self._state.lock:
            return sum(self._state.calls.values())
