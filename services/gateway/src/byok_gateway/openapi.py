"""``python -m byok_gateway.openapi [PATH]``: write the OpenAPI 3.1 document (default
``contracts/openapi.json``); a test checks the committed file against the served one."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from .app import create_app

__all__ = ["DEFAULT_PATH", "main", "render"]

DEFAULT_PATH = Path("contracts/openapi.json")


def render(document: dict[str, Any] | None = None) -> str:
    return json.dumps(document or create_app().openapi(), indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    path = Path(args[0]) if args else DEFAULT_PATH
    path.write_text(render())
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
