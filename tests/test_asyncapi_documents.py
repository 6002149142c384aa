"""Both AsyncAPI documents pass the official AsyncAPI parser, and say what byok does.

The parser is ``@asyncapi/parser`` (npm, installed by ``make setup`` from
clients/typescript/package-lock.json), run by node.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from byok_contracts import subjects

ROOT = Path(__file__).resolve().parents[1]
TS = ROOT / "clients" / "typescript"
PUBLIC = ROOT / "contracts" / "asyncapi.json"
INTERNAL = ROOT / "contracts" / "asyncapi-internal.json"


def _parse(*files: Path) -> tuple[int, list[dict[str, Any]]]:
    if not (TS / "node_modules" / "@asyncapi" / "parser").exists():
        pytest.fail("the AsyncAPI parser is not installed: run `make setup`")
    done = subprocess.run(
        ["node", "scripts/validate-asyncapi.mjs", *map(str, files)],
        cwd=TS,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return done.returncode, [json.loads(line) for line in done.stdout.splitlines() if line]


def _doc(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _by_address(doc: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
    return {c["address"]: (cid, c) for cid, c in doc["channels"].items() if c["address"]}


def test_the_parser_accepts_both_documents() -> None:
    code, results = _parse(PUBLIC, INTERNAL)
    assert code == 0, results
    assert [r["valid"] for r in results] == [True, True]
    assert all(r["version"] == "3.0.0" and not r["errors"] for r in results), results
    public, internal = results
    assert public["operations"] >= 20
    assert internal["operations"] >= 6


def test_the_parser_rejects_a_broken_document(tmp_path: Path) -> None:
    doc = _doc(PUBLIC)
    resolve = next(c for c in doc["channels"].values() if c["address"] == subjects.RESOLVE)
    resolve["messages"]["Resolve"] = {"$ref": "#/components/messages/NoSuchMessage"}
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(doc))
    code, results = _parse(broken)
    assert code == 1
    assert results[0]["valid"] is False


def test_one_viewpoint_byok_receives_requests_and_usage_and_sends_events() -> None:
    doc = _doc(PUBLIC)
    channels = _by_address(doc)
    action = {
        doc["channels"][op["channel"]["$ref"].rsplit("/", 1)[1]]["address"]: op["action"]
        for op in doc["operations"].values()
    }
    assert action[subjects.RESOLVE] == "receive"
    assert action[subjects.KEYS_CONFIGURE] == "receive"
    assert action[subjects.USAGE_RECORDED] == "receive"
    assert action[f"{subjects.EVENTS_PREFIX}.keys.{{change}}"] == "send"
    assert action[subjects.EVENTS_SCOPES_CHANGED] == "send"
    assert "reply" in doc["operations"][channels[subjects.RESOLVE][0]]
    assert "reply" not in doc["operations"][channels[subjects.USAGE_RECORDED][0]]


def test_channel_parameters_list_their_allowed_values() -> None:
    channels = _by_address(_doc(PUBLIC))
    health = channels[f"{subjects.PREFIX}.health.{{service}}"][1]["parameters"]["service"]
    assert health["enum"] == list(subjects.SERVICES)
    keys = channels[f"{subjects.EVENTS_PREFIX}.keys.{{change}}"][1]["parameters"]["change"]
    assert set(keys["enum"]) == {"configured", "removed", "revoked", "disabled", "enabled"}
    credits = channels[f"{subjects.EVENTS_PREFIX}.credits.{{change}}"][1]["parameters"]
    assert credits["change"]["enum"] == ["exhausted", "restored"]
    account = channels[f"{subjects.RESOLVE}.{{account}}"][1]["parameters"]["account"]
    assert "A-Za-z0-9" in account["description"]
    audit = next(c for a, (_, c) in channels.items() if ".audit." in a)["parameters"]
    assert "configure" in audit["operation"]["enum"]
    assert "workspace" in audit["scope_type"]["enum"]


def test_usage_recorded_declares_the_nats_msg_id_header() -> None:
    message = _doc(PUBLIC)["components"]["messages"]["UsageRecorded"]
    assert message["headers"]["required"] == ["Nats-Msg-Id"]


def test_reply_schemas_require_status() -> None:
    schemas = _doc(PUBLIC)["components"]["schemas"]
    for name in ("Resolved", "KeyConfigured", "KeyList", "Balance", "ErrorReply", "Health"):
        assert "status" in schemas[name]["required"], name


def test_internal_channels_are_only_in_the_internal_document() -> None:
    public = set(_by_address(_doc(PUBLIC)))
    internal = set(_by_address(_doc(INTERNAL)))
    assert not public & internal
    assert not any(".internal." in a or a.startswith(subjects.KEYS_VALIDATE) for a in public)
    assert subjects.INTERNAL_KEYS_UNSEAL in internal
    assert f"{subjects.LEDGER_JOURNAL_PREFIX}.{{account}}" in internal
