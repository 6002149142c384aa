"""Who key-vault may seal key material to: public keys that resolver and validator
replicas registered in ``byok-recipients`` (a bucket only those roles may write).

Each replica keeps its keypair in memory, registers the public half at start (key:
the public key's ``kid``) and removes it at stop. key-vault looks a ``recipient_key``
up before sealing an ``internal.keys.unseal`` reply; an unknown key gets a 403, so a
process that merely reaches the bus cannot have a stored key sealed to itself.
"""

from __future__ import annotations

import contextlib
import json
import time

from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError

from byok_contracts import Keypair, SealingError
from byok_contracts.sealing import kid_for, load_public_key
from byok_contracts.v1 import KeyUnsealed, UnsealKey

from . import calls
from .jetstream import BUCKET_RECIPIENTS
from .request import Requester

__all__ = [
    "RECIPIENT_ROLES",
    "lookup_recipient",
    "register_recipient",
    "unregister_recipient",
    "unseal",
]

RECIPIENT_ROLES = ("resolver", "validator")


async def register_recipient(
    js: JetStreamContext, role: str, replica: str, keypair: Keypair
) -> None:
    """Announce ``keypair``'s public half as a recipient of unsealed keys for ``role``."""
    assert role in RECIPIENT_ROLES
    kv = await js.key_value(BUCKET_RECIPIENTS)
    body = {"role": role, "replica": replica, "public_key": keypair.public_b64, "at": time.time()}
    await kv.put(keypair.kid, json.dumps(body).encode())


async def unregister_recipient(js: JetStreamContext, keypair: Keypair) -> None:
    with contextlib.suppress(Exception):  # best effort at shutdown; the key dies with us
        kv = await js.key_value(BUCKET_RECIPIENTS)
        await kv.purge(keypair.kid)


async def lookup_recipient(js: JetStreamContext, public_key: str) -> str | None:
    """The role that registered ``public_key`` (base64), or None."""
    kid = kid_for(load_public_key(public_key))
    kv = await js.key_value(BUCKET_RECIPIENTS)
    try:
        entry = await kv.get(kid)
    except KeyNotFoundError:
        return None
    if not entry.value:
        return None
    body = json.loads(entry.value)
    if body.get("public_key") != public_key or body.get("role") not in RECIPIENT_ROLES:
        return None
    return str(body["role"])


async def unseal(key_vault: Requester, keypair: Keypair, key_id: str) -> tuple[KeyUnsealed, bytes]:
    """The recipient's side of ``internal.keys.unseal``: key-vault seals the stored key to
    ``keypair`` (registered above); it is opened here, in this process's memory only.

    A reply that does not open is the requester's 503, like a peer that does not answer.
    """
    body = UnsealKey(key_id=key_id, recipient_key=keypair.public_b64)
    reply = await key_vault.request(calls.KEYS_UNSEAL, body)
    try:
        return reply, keypair.open(reply.sealed_key, calls.KEYS_UNSEAL.subject)
    except SealingError:
        raise key_vault.failure("key-vault sent a key this replica cannot open") from None
