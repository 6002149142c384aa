"""The committed OpenAPI document is the served one, and schemathesis fuzzing of every
operation against the real stack finds only documented responses: no 500, no hang."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from collections import Counter
from pathlib import Path

import pytest

from byok_gateway.openapi import render

from .conftest import Gateway

_ACCESS = re.compile(r"^(?:GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS|TRACE) \S+ (\d{3}) [0-9.]+ms")

COMMITTED = Path(__file__).resolve().parents[3] / "contracts" / "openapi.json"


async def test_committed_openapi_is_the_served_one(gw: Gateway) -> None:
    served = (await gw.call("GET", "/openapi.json", None)).json()
    assert served["openapi"].startswith("3.1")
    assert render(served) == COMMITTED.read_text(), (
        "contracts/openapi.json is stale: run `make docs` (python -m byok_gateway.openapi)"
    )


def status_histogram(lines: list[str]) -> Counter[int]:
    """Response codes from the gateway's own access log (``METHOD /template CODE 1.2ms``)."""
    codes: Counter[int] = Counter()
    for line in lines:
        match = _ACCESS.search(line)
        if match:
            codes[int(match.group(1))] += 1
    return codes


@pytest.mark.timeout(600)
async def test_schemathesis_fuzzing_finds_only_documented_responses(
    gw: Gateway, tmp_path: Path
) -> None:
    operator = await gw.token("*", role="operator")
    report = tmp_path / "report.json"
    examples = os.environ.get("BYOK_FUZZ_EXAMPLES", "25")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        str(COMMITTED),
        "--url",
        gw.url,
        "-H",
        f"Authorization: Bearer {operator}",
        "--checks",
        "not_a_server_error,status_code_conformance,content_type_conformance,"
        "response_schema_conformance,negative_data_rejection",
        "--phases",
        "examples,coverage,fuzzing",
        "--max-examples",
        examples,
        "--seed",
        "20261202",
        # One worker: Python 3.11's ast.parse is not thread-safe (CPython gh-106905,
        # "AST constructor recursion depth mismatch"), and hypothesis parses
        # lambdas with it while describing schemathesis' filters.
        "--workers",
        "1",
        "--request-timeout",
        "15",
        "--report",
        "json",
        "--report-json-path",
        str(report),
        "--output-sanitize",
        "true",
        "--no-color",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "SCHEMATHESIS_HOOKS": ""},
        cwd=tmp_path,  # schemathesis keeps a .schemathesis/ cache in its working directory
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=540)
    text = out.decode("utf-8", "replace")
    assert proc.returncode == 0, text[-6000:]
    summary = text[text.find("Test cases:") :].splitlines()[1:2]
    codes = status_histogram([line.split(" ", 1)[-1] for line in gw.logs.lines])
    print(f"\nschemathesis: {summary}; responses by status: {dict(sorted(codes.items()))}")
    assert sum(codes.values()) > 500
    assert not [code for code in codes if code >= 500]
    assert set(codes) <= {200, 400, 401, 403, 404, 405, 409, 413, 422, 429}
