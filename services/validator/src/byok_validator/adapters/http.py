"""Live model-list calls with one pooled httpx client (DESIGN.md section 7)."""

from __future__ import annotations

import httpx

from ..domain import Check, Outcome, classify

__all__ = ["HttpxProviders"]


class HttpxProviders:
    """Anthropic ``x-api-key``, OpenAI ``Bearer``, Gemini ``x-goog-api-key``."""

    def __init__(self, client: httpx.AsyncClient, base_urls: dict[str, str]) -> None:
        self.client = client
        self.base_urls = {name: url.rstrip("/") for name, url in base_urls.items()}

    def _request(self, provider: str, key: str) -> tuple[str, dict[str, str]]:
        base = self.base_urls[provider]
        if provider == "anthropic":
            return f"{base}/v1/models", {"x-api-key": key, "anthropic-version": "2023-06-01"}
        if provider == "openai":
            return f"{base}/v1/models", {"authorization": f"Bearer {key}"}
        return f"{base}/v1beta/models", {"x-goog-api-key": key}

    async def check(self, provider: str, key: str) -> Check:
        url, headers = self._request(provider, key)
        try:
            response = await self.client.get(url, headers=headers)
        except httpx.TimeoutException:
            return Check(Outcome.TRANSIENT, f"{provider} did not answer in time")
        except httpx.TransportError as exc:
            return Check(Outcome.TRANSIENT, f"{provider} is unreachable ({type(exc).__name__})")
        return classify(provider, response.status_code, response.content, key)

    async def close(self) -> None:
        await self.client.aclose()
