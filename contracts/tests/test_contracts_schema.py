"""The committed JSON Schemas are the v1 contract: changes must stay backward compatible."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from byok_contracts.schema import asyncapi, breaking_changes, export, outbound, schemas

COMMITTED = Path(__file__).resolve().parents[1] / "schemas"


def committed() -> dict[str, dict[str, Any]]:
    return {p.stem: json.loads(p.read_text()) for p in sorted(COMMITTED.glob("*.json"))}


def test_every_message_has_a_committed_schema() -> None:
    missing = set(schemas()) - set(committed())
    assert not missing, f"run `make docs` and commit the new schemas: {sorted(missing)}"


def test_no_committed_message_was_dropped() -> None:
    dropped = set(committed()) - set(schemas())
    assert not dropped, f"v1 messages may not disappear: {sorted(dropped)}"


@pytest.mark.parametrize("name", sorted(p.stem for p in COMMITTED.glob("*.json")))
def test_schema_is_backward_compatible(name: str) -> None:
    current = schemas().get(name)
    assert current is not None
    problems = breaking_changes(committed()[name], current, sent_by_byok=name in outbound())
    assert not problems, f"{name} breaks v1 clients: {problems} (breaking changes go to byok.v2)"


def _configure_schema() -> dict[str, Any]:
    return copy.deepcopy(committed()["ConfigureKey"])


def test_checker_flags_a_removed_field() -> None:
    new = _configure_schema()
    del new["properties"]["kid"]
    assert any("kid: field removed" in p for p in breaking_changes(_configure_schema(), new))


def test_checker_flags_a_new_required_field() -> None:
    new = _configure_schema()
    new["properties"]["tenant"] = {"type": "string"}
    new["required"].append("tenant")
    assert any("tenant: new required" in p for p in breaking_changes(_configure_schema(), new))


def test_checker_flags_a_narrowed_type() -> None:
    new = _configure_schema()
    new["properties"]["model"] = {"type": "string"}  # was string | null
    assert any("model: type narrowed" in p for p in breaking_changes(_configure_schema(), new))


def test_checker_accepts_an_additive_optional_field() -> None:
    new = _configure_schema()
    new["properties"]["note"] = {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None}
    assert breaking_changes(_configure_schema(), new) == []


def test_checker_sees_inside_nested_models_and_arrays() -> None:
    old = committed()["Resolve"]
    new = copy.deepcopy(old)
    del new["$defs"]["Scope"]["properties"]["id"]
    assert "chain[].id: field removed or renamed" in breaking_changes(old, new)


def test_checker_flags_a_narrowed_enum() -> None:
    old = committed()["Resolve"]
    new = copy.deepcopy(old)
    new["$defs"]["ScopeType"]["enum"].remove("chatbot")
    assert any("chain[].type: type narrowed" in p for p in breaking_changes(old, new))


def test_a_reply_may_gain_a_required_field_but_not_lose_one() -> None:
    old = committed()["Resolved"]
    gained = copy.deepcopy(old)
    gained["properties"]["region"] = {"type": "string"}
    gained["required"].append("region")
    assert breaking_changes(old, gained, sent_by_byok=True) == []
    lost = copy.deepcopy(old)
    lost["required"].remove("status")
    assert "status: no longer required" in breaking_changes(old, lost, sent_by_byok=True)


def test_every_reply_requires_status() -> None:
    for name in outbound():
        schema = schemas()[name]
        if "status" in schema["properties"]:
            assert "status" in schema["required"], name
    assert "status" in schemas()["Resolved"]["required"]


def test_committed_documents_are_up_to_date(tmp_path: Path) -> None:
    export(tmp_path)
    for name in ("asyncapi.json", "asyncapi-internal.json", "error-words.json"):
        committed_doc = (COMMITTED.parent / name).read_text()
        assert committed_doc == (tmp_path / name).read_text(), f"run `make docs`: {name} is stale"


def test_export_writes_schemas_and_asyncapi(tmp_path: Path) -> None:
    written = export(tmp_path)
    assert (tmp_path / "asyncapi.json") in written
    doc = json.loads((tmp_path / "asyncapi.json").read_text())
    addresses = {c["address"] for c in doc["channels"].values()}
    assert "byok.v1.resolve" in addresses
    assert "byok.v1.usage.recorded" in addresses
    assert doc == json.loads(json.dumps(asyncapi()))
