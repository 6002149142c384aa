"""The reference key-settings page (``/settings``) and its embeddable script.

Static ES modules served from this package, under a strict Content-Security-Policy:
everything from this origin, no inline script or style, no framing except by the
origins the operator lists in ``BYOK_SETTINGS_FRAME_ANCESTORS``. The provider key is
sealed in the browser (``seal.js``, built from the TypeScript client's sealing) before
it leaves the page.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, HTMLResponse

__all__ = ["ASSETS", "content_security_policy", "router"]

ASSETS = Path(str(resources.files(__package__) / "static"))
_TYPES = {".js": "text/javascript", ".css": "text/css", ".html": "text/html"}
_EMBED = "embed.js"


def content_security_policy() -> str:
    ancestors = os.environ.get("BYOK_SETTINGS_FRAME_ANCESTORS", "'none'")
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "connect-src 'self'",
            "img-src 'self'",
            "base-uri 'none'",
            "form-action 'none'",
            f"frame-ancestors {ancestors}",
        ]
    )


def _headers() -> dict[str, str]:
    return {
        "Content-Security-Policy": content_security_policy(),
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-store",
    }


router = APIRouter(include_in_schema=False)


@router.get("/settings")
async def settings_page() -> HTMLResponse:
    return HTMLResponse((ASSETS / "index.html").read_text(encoding="utf-8"), headers=_headers())


@router.get("/settings/assets/{name}")
async def settings_asset(name: str) -> FileResponse:
    path = ASSETS / name
    # Only the files of this folder, by their plain name: no traversal, no listing.
    if "/" in name or name.startswith(".") or path.suffix not in _TYPES or not path.is_file():
        raise HTTPException(status_code=404)
    headers = _headers()
    if name == _EMBED:
        # The embed script is loaded by the product's pages, from their origin: a module
        # script across origins needs CORS. It is public and sent without credentials.
        headers["Access-Control-Allow-Origin"] = "*"
        headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    return FileResponse(path, media_type=_TYPES[path.suffix], headers=headers)
