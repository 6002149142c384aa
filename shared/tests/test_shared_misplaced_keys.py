"""A provider key misplaced in any request field is refused or redacted by the contract.

Issue 10: a key put in ``kid`` came back in an error, one used as a field name came
back in the 400, ``actor`` was stored verbatim. Here every request model of the
contract gets the key in every string field: it either fails validation (and the
error names no input) or the accepted request no longer holds the key.
"""

from __future__ import annotations

import json

from pydantic import ValidationError

from byok_contracts.schema import OPERATIONS
from byok_shared.responder import _describe
from byok_shared.testing.misplaced import TEMPLATES, misplaced_bodies

KEYS = (
    "sk-ant-api03-" + "M1spl4cedAnthr0p1cK3y" * 3 + "-mmAA",
    "sk-proj-" + "M1spl4cedOpenA1K3y" * 3,
    "AIzaSy" + "M1spl4cedGem1n1K3yV4lue",
)
MODELS = {op.subject: op.message for op in OPERATIONS if op.kind == "request"}


def test_every_request_subject_has_a_template() -> None:
    plain = {s for s in MODELS if "{" not in s and not s.endswith(".public-key")}
    internal = {s for s in plain if ".internal." in s or s.startswith("byok.v1.keys.validate")}
    assert plain - internal <= set(TEMPLATES)
    for subject, body in TEMPLATES.items():
        MODELS[subject].model_validate_json(json.dumps(body))  # the templates are valid


def test_a_key_in_any_field_is_refused_or_redacted() -> None:
    checked = 0
    for key in KEYS:
        for subject, body in misplaced_bodies(key):
            model = MODELS[subject]
            try:
                accepted = model.model_validate_json(json.dumps(body))
            except ValidationError as exc:
                described = _describe(exc)
            else:
                described = accepted.model_dump_json()
                checked += 1
            assert key[8:28] not in described, (subject, body)
    assert checked > 0  # some fields (actor, reason) accept the text, redacted
