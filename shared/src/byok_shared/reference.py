"""``contracts/REFERENCE.md``: the contract reference for integrators, generated.

Everything that the code knows is read from it: subjects, request and reply schemas
(:mod:`byok_contracts.schema`), error words (:mod:`byok_contracts.error_words`),
sealing constants (:mod:`byok_contracts.sealing`), streams
(:mod:`byok_shared.jetstream`), shared KV layouts (:mod:`byok_contracts.v1.buckets`), limits (:mod:`byok_shared.responder`) and the NATS
permissions of each client role (:mod:`byok_shared.natsauth`). The prose around
them is in :mod:`byok_shared.reference_text`. ``make docs`` writes the file and
``tests/test_reference.py`` fails when the committed one is stale.

    python -m byok_shared.reference contracts/REFERENCE.md
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

from byok_contracts import sealing
from byok_contracts import subjects as s
from byok_contracts.error_words import (
    CLIENT_SIDE,
    COMMON,
    ERROR_WORDS,
    HTTP_ONLY,
    SUBJECT_ERRORS,
)
from byok_contracts.schema import OPERATIONS, Operation
from byok_contracts.v1 import SHARED_BUCKETS
from byok_contracts.v1.common import ID_PATTERN

from . import reference_text as text
from .jetstream import stream_configs
from .natsauth import ROLES, tenant_runtime
from .responder import MAX_BODY

__all__ = ["render"]

_PIPE = "\\|"  # a | inside a table cell, even inside code


def _type(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        return f"`{schema['$ref'].rsplit('/', 1)[1]}`"
    if "const" in schema:
        return f"`{json.dumps(schema['const'])}`"
    if "enum" in schema:
        return " \\| ".join(f"`{json.dumps(v)}`" for v in schema["enum"])
    if "anyOf" in schema:
        return " \\| ".join(_type(o) for o in schema["anyOf"])
    kind = schema.get("type", "any")
    if kind == "array":
        return f"array of {_type(schema.get('items', {}))}"
    if kind == "object" and "additionalProperties" in schema:
        return f"object of {_type(schema['additionalProperties'])}"
    extra = []
    for key in ("pattern", "format", "minLength", "maxLength", "minimum", "maximum"):
        if key in schema:
            value = str(schema[key]).replace("|", _PIPE)
            extra.append(f"{key} `{value}`")
    if "exclusiveMinimum" in schema:
        extra.append(f"> {schema['exclusiveMinimum']}")
    return f"{kind}" + (f" ({', '.join(extra)})" if extra else "")


def _fields(schema: dict[str, Any]) -> list[str]:
    props: dict[str, Any] = schema.get("properties", {})
    if not props:
        return ["(no fields: send `{}`)", ""]
    required = set(schema.get("required", []))
    lines = ["| field | type | required | default |", "|---|---|---|---|"]
    for name, prop in props.items():
        default = f"`{json.dumps(prop['default'])}`" if "default" in prop else ""
        lines.append(
            f"| `{name}` | {_type(prop)} | {'yes' if name in required else 'no'} | {default} |"
        )
    return [*lines, ""]


def _defs() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        for model in (op.message, op.reply):
            if model is not None:
                found.update(model.model_json_schema(mode="validation").get("$defs", {}))
    return found


def _words(subject: str) -> str:
    own = SUBJECT_ERRORS.get(subject, ())
    listed = ", ".join(f"`{w}` ({ERROR_WORDS[w].code})" for w in own)
    return f"common words, and {listed}" if listed else "the common words only"


def _subject_section(op: Operation) -> list[str]:
    lines = [f"### `{op.subject}`", "", f"{op.summary[0].upper()}{op.summary[1:]}."]
    if op.kind == "request":
        lines += [
            f"Served by {op.owner or 'each service'}. Request `{op.message.__name__}`, "
            f"reply `{op.reply.__name__ if op.reply else '-'}`.",
            "",
            f"Request `{op.message.__name__}`:",
            "",
            *_fields(op.message.model_json_schema(mode="validation")),
        ]
        if op.reply is not None:
            lines += [
                f"Reply `{op.reply.__name__}`:",
                "",
                *_fields(op.reply.model_json_schema(mode="validation")),
            ]
        lines += [f"Error words: {_words(op.subject)}.", ""]
    else:
        sender = "runtimes publish it; byok consumes" if op.kind == "inbound" else "byok publishes"
        lines += [
            f"Event `{op.message.__name__}` ({sender}).",
            "",
            *_fields(op.message.model_json_schema(mode="validation")),
        ]
    return lines


def _subjects() -> list[str]:
    public = [op for op in OPERATIONS if not op.internal]
    lines = [
        "| subject | kind | request | reply | summary |",
        "|---|---|---|---|---|",
    ]
    for op in public:
        kind = {"request": "request/reply", "event": "event (sent)", "inbound": "event (received)"}
        reply = op.reply.__name__ if op.reply else ""
        lines.append(
            f"| `{op.subject}` | {kind[op.kind]} | `{op.message.__name__}` | "
            f"{f'`{reply}`' if reply else ''} | {op.summary} |"
        )
    services = ", ".join(f"`{x}`" for x in s.SERVICES)
    lines += ["", *(line.format(services=services) for line in text.PARAMETERS), ""]
    for op in public:
        lines += _subject_section(op)
    lines += ["### Shared types", ""]
    for name, schema in sorted(_defs().items()):
        if "properties" in schema:
            lines += [f"`{name}`:", "", *_fields(schema)]
        else:
            lines += [f"`{name}`: {_type(schema)}.", ""]
    return lines


def _errors() -> list[str]:
    lines = [
        *text.ERRORS,
        "",
        "| word | code | meaning | what a client does |",
        "|---|---|---|---|",
    ]
    for word in sorted(ERROR_WORDS.values(), key=lambda w: (w.code, w.word)):
        where = (
            " (client side)"
            if word.word in CLIENT_SIDE
            else " (HTTP)"
            if word.word in HTTP_ONLY
            else ""
        )
        lines.append(f"| `{word.word}`{where} | {word.code} | {word.meaning} | {word.action} |")
    lines += ["", f"Common words (any request subject): {', '.join(f'`{w}`' for w in COMMON)}.", ""]
    lines += ["| subject | further words |", "|---|---|"]
    for subject, words in SUBJECT_ERRORS.items():
        if ".internal." in subject or subject.startswith(s.KEYS_VALIDATE):
            continue
        lines.append(f"| `{subject}` | {', '.join(f'`{w}`' for w in words) or '-'} |")
    return [*lines, ""]


def _streams() -> list[str]:
    lines = [
        "| stream | subjects | max age | max bytes (default) | duplicate window | when full |",
        "|---|---|---|---|---|---|",
    ]
    for config in stream_configs():
        age = f"{config.max_age / 86400:g} days" if config.max_age else "unlimited"
        discard = getattr(config.discard, "value", config.discard) or "old"
        full = "refuses new messages" if discard == "new" else "drops the oldest"
        size = (
            f"{config.max_bytes / 1024**3:g} GiB (`BYOK_{(config.name or '').removeprefix('BYOK_')}_MAX_BYTES`)"
            if config.max_bytes and config.max_bytes > 0
            else "unlimited"
        )
        lines.append(
            f"| `{config.name}` | {', '.join(f'`{x}`' for x in config.subjects or [])} | {age} | "
            f"{size} | {config.duplicate_window:g} s | {full} |"
        )
    provisioned = importlib.util.find_spec("byok_shared.provision") is not None
    return [*lines, "", *(text.PROVISIONED if provisioned else text.SELF_CREATED), ""]


def _shared_state() -> list[str]:
    lines = [
        *text.SHARED_STATE,
        "",
        "| bucket | key | value | written by | read by |",
        "|---|---|---|---|---|",
    ]
    for bucket in SHARED_BUCKETS:
        lines.append(
            f"| `{bucket.name}` | {bucket.key} | {bucket.value} | {', '.join(bucket.writers)} | "
            f"{', '.join(bucket.readers)} |"
        )
    return [*lines, ""]


def _permissions() -> list[str]:
    lines: list[str] = []
    example = tenant_runtime("runtime-acme", ["acme", "globex"])
    for name, role in (
        ("backend", ROLES["backend"]),
        ("runtime", ROLES["runtime"]),
        ("tenant runtime", example),
    ):
        if role is example:
            lines += [
                *(x.format(name=role.name, accounts="`acme` and `globex`") for x in text.TENANT),
                "",
            ]
        lines += [
            f"**{name}** (user `{role.name}`, replies on `{role.inbox_prefix}.>`):",
            "",
            f"- publish: {', '.join(f'`{p}`' for p in role.publish)}",
            f"- subscribe: {', '.join(f'`{p}`' for p in role.subscribe)}",
            "",
        ]
    return lines


def render() -> str:
    """The whole reference, as Markdown."""
    facts = {
        "suite": sealing.SUITE,
        "configure": s.KEYS_CONFIGURE,
        "resolve": s.RESOLVE,
        "public_key": s.KEYS_PUBLIC_KEY,
        "max_body": MAX_BODY,
        "max_body_kib": MAX_BODY // 1024,
        "id_pattern": ID_PATTERN,
    }
    parts = [
        *text.INTRO,
        "",
        "## Subjects",
        "",
        *_subjects(),
        "## Error words",
        "",
        *_errors(),
        "## Sealing, byte for byte",
        "",
        *(line.format(**facts) for line in text.SEALING),
        "",
        "## Events and streams",
        "",
        *text.EVENTS,
        "",
        *_streams(),
        "## Shared state (KV buckets)",
        "",
        *_shared_state(),
        "## Delivery and consistency",
        "",
        *text.DELIVERY,
        "",
        "## Limits",
        "",
        *(line.format(**facts) for line in text.LIMITS),
        "",
        "## NATS permissions",
        "",
        *text.PERMISSIONS,
        "",
        *_permissions(),
        "## Behaviour a client might otherwise guess",
        "",
        *text.BEHAVIOUR,
        "",
    ]
    return "\n".join(parts).rstrip() + "\n"


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "contracts/REFERENCE.md")
    target.write_text(render())
    print(target)
