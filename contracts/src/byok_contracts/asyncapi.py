"""AsyncAPI 3 documents of the v1 contract, from :data:`byok_contracts.schema.OPERATIONS`.

One viewpoint: the application described is **byok**. A request subject is an
operation byok *receives* (and replies to, on the requester's inbox); an event
byok publishes is one it *sends*; ``usage.recorded``, which runtimes publish,
is one byok *receives*. Internal hops between byok's own services go into a
second document (``asyncapi-internal.json``), so integrators see only what they
may use. Message schemas live under ``components/schemas`` (shared ``$defs``
hoisted there, so every ``$ref`` resolves inside the document), and every
reply schema requires ``status``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, get_args

from pydantic import BaseModel

from . import subjects as s
from .error_words import words_for
from .v1.audit import AuditOperation
from .v1.common import ID_PATTERN, ScopeType

if TYPE_CHECKING:
    from .schema import Operation

__all__ = ["PARAMETERS", "document", "message_schemas"]

_REF = "#/components/schemas/{model}"

PARAMETERS: dict[str, dict[str, Any]] = {
    "service": {
        "description": "The service whose health to ask.",
        "enum": list(s.SERVICES),
    },
    "change": {"description": "What happened (see each channel for its values)."},
    "account": {
        "description": f"An account id (matches `{ID_PATTERN}`); must equal the body's `account`."
    },
    "replica": {"description": "A validator replica id (internal)."},
    "owner": {"description": "The account owning the scope, `_` for none (platform, rotate)."},
    "scope_type": {
        "description": "The scope's type, `_` for none.",
        "enum": [*(t.value for t in ScopeType), "_"],
    },
    "scope_id": {"description": f"The scope's id (matches `{ID_PATTERN}`), `_` for none."},
    "operation": {
        "description": "What was done to the key.",
        "enum": list(get_args(AuditOperation)),
    },
}
_CHANGES = {
    f"{s.EVENTS_PREFIX}.keys.{{change}}": [
        "configured",
        "removed",
        "revoked",
        "disabled",
        "enabled",
    ],
    f"{s.EVENTS_PREFIX}.credits.{{change}}": ["exhausted", "restored"],
}
NATS_MSG_ID = {
    "type": "object",
    "required": ["Nats-Msg-Id"],
    "properties": {
        "Nats-Msg-Id": {
            "type": "string",
            "description": "`<account>:<request_id>` of the event: JetStream drops a "
            "duplicate publish within the stream's duplicate window (120 s), consumers dedupe "
            "on (account, request_id) beyond it.",
            "pattern": "^[A-Za-z0-9][A-Za-z0-9_-]{0,127}:[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$",
        }
    },
}


def _channel_id(subject: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", subject.replace("{", "").replace("}", ""))


def _schema(model: type[BaseModel], defs: dict[str, Any]) -> dict[str, Any]:
    schema = model.model_json_schema(mode="validation", ref_template=_REF)
    for name, sub in schema.pop("$defs", {}).items():
        defs.setdefault(name, sub)
    return schema


def message_schemas(ops: list[Operation]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(messages, schemas) for the components section of a document of ``ops``."""
    from .v1 import ErrorReply

    models: dict[str, type[BaseModel]] = {"ErrorReply": ErrorReply}
    for op in ops:
        models[op.message.__name__] = op.message
        if op.reply is not None:
            models[op.reply.__name__] = op.reply
    schemas: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for name, model in sorted(models.items()):
        schemas[name] = _schema(model, schemas)
        message: dict[str, Any] = {
            "name": name,
            "title": name,
            "contentType": "application/json",
            "payload": {"$ref": _REF.format(model=name)},
        }
        doc = (model.__doc__ or "").strip().split("\n\n")[0]
        if doc:
            message["summary"] = " ".join(doc.split())
        if name == "UsageRecorded":
            message["headers"] = NATS_MSG_ID
        messages[name] = message
    return messages, schemas


def _parameters(subject: str) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for name in re.findall(r"{(\w+)}", subject):
        param = dict(PARAMETERS[name])
        if subject in _CHANGES:
            param["enum"] = _CHANGES[subject]
        params[name] = param
    return params


def _msg(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/messages/{name}"}


def document(ops: list[Operation], *, title: str, description: str) -> dict[str, Any]:
    """An AsyncAPI 3.0 document whose application is byok."""
    messages, schemas = message_schemas(ops)
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for op in ops:
        cid = _channel_id(op.subject)
        name = op.message.__name__
        channel: dict[str, Any] = {"address": op.subject, "messages": {name: _msg(name)}}
        if op.summary:
            channel["description"] = op.summary
        params = _parameters(op.subject)
        if params:
            channel["parameters"] = params
        channels[cid] = channel
        operation: dict[str, Any] = {
            "action": "send" if op.kind == "event" else "receive",
            "channel": {"$ref": f"#/channels/{cid}"},
            "summary": op.summary,
            "messages": [{"$ref": f"#/channels/{cid}/messages/{name}"}],
        }
        if op.reply is not None:
            reply_id = f"{cid}_reply"
            channels[reply_id] = {
                "address": None,
                "description": f"The requester's inbox (the NATS reply subject) for {op.subject}. "
                f"Error words: {', '.join(words_for(op.subject))}.",
                "messages": {
                    op.reply.__name__: _msg(op.reply.__name__),
                    "ErrorReply": _msg("ErrorReply"),
                },
            }
            operation["reply"] = {
                "channel": {"$ref": f"#/channels/{reply_id}"},
                "messages": [
                    {"$ref": f"#/channels/{reply_id}/messages/{op.reply.__name__}"},
                    {"$ref": f"#/channels/{reply_id}/messages/ErrorReply"},
                ],
            }
        operations[cid] = operation
    return {
        "asyncapi": "3.0.0",
        "info": {"title": title, "version": "1.0.0", "description": description},
        "defaultContentType": "application/json",
        "servers": {
            "local": {
                "host": "127.0.0.1:4222",
                "protocol": "nats",
                "description": "`make run` (credentials under BYOK_DATA_DIR/nats-auth).",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }
