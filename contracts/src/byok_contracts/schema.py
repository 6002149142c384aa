"""JSON Schema and AsyncAPI export of the v1 contract, and the compatibility check.

``make docs`` writes ``contracts/schemas/*.json``, ``contracts/asyncapi.json`` (what
product backends and runtimes use), ``contracts/asyncapi-internal.json`` (the hops
between byok's services); a test compares the committed schemas with the code's and fails on any change
that would break an existing client (see :func:`breaking_changes`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from . import asyncapi as _asyncapi
from . import v1
from .operations import OPERATIONS, Operation

__all__ = [
    "OPERATIONS",
    "Operation",
    "asyncapi",
    "asyncapi_internal",
    "breaking_changes",
    "error_registry",
    "export",
    "outbound",
    "schemas",
]


_EXTRA: tuple[type[BaseModel], ...] = (v1.ErrorReply,)


def schemas() -> dict[str, dict[str, Any]]:
    """JSON Schema of every public v1 message, by model name."""
    models: list[type[BaseModel]] = []
    for op in OPERATIONS:
        models.append(op.message)
        if op.reply is not None:
            models.append(op.reply)
    models.extend(_EXTRA)
    return {m.__name__: m.model_json_schema(mode="validation") for m in models}


def asyncapi() -> dict[str, Any]:
    """The AsyncAPI 3 document of what product backends and runtimes use (byok's view)."""
    return _asyncapi.document(
        [op for op in OPERATIONS if not op.internal],
        title="byok",
        description="byok v1 NATS contract, seen from byok: it receives requests (and replies "
        "on the requester's inbox) and usage.recorded, and sends events. Reference: "
        "contracts/REFERENCE.md.",
    )


def asyncapi_internal() -> dict[str, Any]:
    """The AsyncAPI 3 document of the hops between byok's own services."""
    return _asyncapi.document(
        [op for op in OPERATIONS if op.internal],
        title="byok internal",
        description="Hops between byok services; not for product backends or runtimes "
        "(their NATS users may not publish or subscribe to these subjects).",
    )


def outbound() -> set[str]:
    """Names of the messages byok sends (replies and events): clients read them."""
    names = {"ErrorReply"}
    for op in OPERATIONS:
        if op.reply is not None:
            names.add(op.reply.__name__)
        if op.kind == "event":
            names.add(op.message.__name__)
    return names


def error_registry() -> dict[str, Any]:
    """The error registry as data (``contracts/error-words.json``), for clients in any language."""
    from .error_words import CLIENT_SIDE, COMMON, ERROR_WORDS, HTTP_ONLY, SUBJECT_ERRORS

    return {
        "words": {
            w.word: {
                "code": w.code,
                "meaning": w.meaning,
                "action": w.action,
                "origin": "client"
                if w.word in CLIENT_SIDE
                else "http"
                if w.word in HTTP_ONLY
                else "service",
            }
            for w in ERROR_WORDS.values()
        },
        "common": list(COMMON),
        "subjects": {subject: list(words) for subject, words in SUBJECT_ERRORS.items()},
    }


def _dump(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def export(directory: Path) -> list[Path]:
    """Write every schema and the AsyncAPI document under ``directory``."""
    out = directory / "schemas"
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in sorted(schemas().items()):
        path = out / f"{name}.json"
        path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n")
        written.append(path)
    for name, text in (
        ("asyncapi.json", _dump(asyncapi())),
        ("asyncapi-internal.json", _dump(asyncapi_internal())),
        ("error-words.json", _dump(error_registry())),
    ):
        (directory / name).write_text(text)
        written.append(directory / name)
    return written


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        return _resolve(root["$defs"][ref.removeprefix("#/$defs/")], root)
    return schema


def _types(schema: dict[str, Any], root: dict[str, Any]) -> set[str]:
    schema = _resolve(schema, root)
    if "anyOf" in schema:
        found: set[str] = set()
        for option in schema["anyOf"]:
            found |= _types(option, root)
        return found
    if "const" in schema:
        return {f"const:{json.dumps(schema['const'])}"}
    if "enum" in schema:
        return {f"const:{json.dumps(v)}" for v in schema["enum"]}
    kind = schema.get("type")
    if isinstance(kind, list):
        return set(kind)
    return {kind} if isinstance(kind, str) else {"any"}


def _covers(old: set[str], new: set[str]) -> bool:
    """True when every value the old schema accepted is still accepted."""
    if "any" in new:
        return True
    for t in old:
        if t in new:
            continue
        if t.startswith("const:"):
            value = json.loads(t.removeprefix("const:"))
            kind = {str: "string", bool: "boolean", int: "integer", float: "number"}.get(
                type(value)
            )
            if kind in new or (kind == "integer" and "number" in new):
                continue
        if t == "integer" and "number" in new:
            continue
        return False
    return True


def _nested(
    old: dict[str, Any],
    new: dict[str, Any],
    where: str,
    old_root: dict[str, Any],
    new_root: dict[str, Any],
    sent_by_byok: bool = False,
) -> list[str]:
    """Compare the object schemas inside a property: directly, as array items, or in an anyOf."""
    old, new = _resolve(old, old_root), _resolve(new, new_root)
    if "properties" in old and "properties" in new:
        return breaking_changes(
            old, new, path=where, old_root=old_root, new_root=new_root, sent_by_byok=sent_by_byok
        )
    if "items" in old and "items" in new:
        return _nested(old["items"], new["items"], f"{where}[]", old_root, new_root, sent_by_byok)
    if "anyOf" in old and "anyOf" in new:
        olds = [o for o in old["anyOf"] if "properties" in _resolve(o, old_root) or "items" in o]
        news = [n for n in new["anyOf"] if "properties" in _resolve(n, new_root) or "items" in n]
        if len(olds) == 1 and len(news) == 1:
            return _nested(olds[0], news[0], where, old_root, new_root, sent_by_byok)
    return []


def breaking_changes(
    old: dict[str, Any],
    new: dict[str, Any],
    *,
    path: str = "",
    old_root: dict[str, Any] | None = None,
    new_root: dict[str, Any] | None = None,
    sent_by_byok: bool = False,
) -> list[str]:
    """Ways ``new`` breaks clients of ``old``: removed fields, narrowed types, and for what
    clients send, new required fields; for what byok sends (``sent_by_byok``: replies and
    events, which clients read), a field that stops being required."""
    old_root = old_root or old
    new_root = new_root or new
    old = _resolve(old, old_root)
    new = _resolve(new, new_root)
    problems: list[str] = []
    old_props: dict[str, Any] = old.get("properties", {})
    new_props: dict[str, Any] = new.get("properties", {})
    for name, old_prop in old_props.items():
        where = f"{path}.{name}" if path else name
        if name not in new_props:
            problems.append(f"{where}: field removed or renamed")
            continue
        old_t, new_t = _types(old_prop, old_root), _types(new_props[name], new_root)
        if not _covers(old_t, new_t):
            problems.append(f"{where}: type narrowed from {sorted(old_t)} to {sorted(new_t)}")
        problems += _nested(old_prop, new_props[name], where, old_root, new_root, sent_by_byok)
    old_required, new_required = set(old.get("required", [])), set(new.get("required", []))
    for name in sorted(
        old_required - new_required if sent_by_byok else new_required - old_required
    ):
        where = f"{path}.{name}" if path else name
        problems.append(
            f"{where}: {'no longer required' if sent_by_byok else 'new required field'}"
        )
    return problems


if __name__ == "__main__":
    import sys

    target = Path(sys.argv[1] if len(sys.argv) > 1 else "contracts")
    for written in export(target):
        print(written)
