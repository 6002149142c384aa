"""``make bench``: run every benchmark suite (or those named) and print their figures.

Suites are the modules of this package that define ``async def run(quick: bool) -> dict``;
each measures its own baseline in the same run and reports ratios against it.
Results are printed and written to ``bench/results/<suite>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import pkgutil
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent


def suites() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules([str(HERE)]) if not m.name.startswith("_"))


def main() -> int:
    parser = argparse.ArgumentParser(prog="make bench")
    parser.add_argument(
        "suite", nargs="*", help=f"suites to run (default all: {', '.join(suites())})"
    )
    parser.add_argument("--quick", action="store_true", help="smaller runs, for a smoke check")
    args = parser.parse_args()
    chosen = args.suite or suites()
    for name in list(chosen):  # a suite that runs others as part of it (growth)
        included = getattr(importlib.import_module(f"bench.{name}"), "INCLUDES", ())
        chosen = [other for other in chosen if other not in included]
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    failed = False
    for name in chosen:
        module = importlib.import_module(f"bench.{name}")
        print(f"== {name}", flush=True)
        started = time.monotonic()
        result: dict[str, Any] = asyncio.run(module.run(quick=args.quick))
        result["elapsed_s"] = round(time.monotonic() - started, 1)
        print(json.dumps(result, indent=2), flush=True)
        (out / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
        failed |= result.get("meets_bar") is False
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
