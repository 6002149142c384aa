"""Compare-and-set writes, written once: read, decide, write at the revision read, retry.

Every key-vault write that depends on what is stored (a record's state, a scope's
settings, an account's policy, a rewrapped ciphertext, the current sealing kid)
is one of these units of work. A write that loses a race raises
:class:`~byok_key_vault.errors.StoreConflict`; the unit then reads again and
decides again from the fresh value, up to :data:`RETRIES` times, then gives up
with a 409 the caller may retry.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from byok_contracts.v1 import KeyRecord

from .errors import StoreConflict
from .ports import KeyStore, Versioned

__all__ = ["RETRIES", "compare_and_set", "merge_entry", "write_slot"]

RETRIES = 5

V = TypeVar("V")
R = TypeVar("R")

Existing = Versioned[KeyRecord] | None


async def compare_and_set(
    what: str,
    read: Callable[[], Awaitable[V]],
    write: Callable[[V], Awaitable[R]],
    *,
    first: Callable[[], Awaitable[V]] | None = None,
) -> R:
    """``write(read())``, read and written again while ``write`` raises StoreConflict.

    ``first`` stands in for the first read, when a good guess saves a round trip
    (an empty slot: most configures create). Errors other than a conflict, from
    either step, go to the caller at once.
    """
    load = first or read
    for _ in range(RETRIES):
        current = await load()
        load = read
        try:
            return await write(current)
        except StoreConflict:
            continue
    raise StoreConflict(f"The {what} kept changing; try again")


async def merge_entry(
    what: str,
    read: Callable[[], Awaitable[Versioned[V] | None]],
    put: Callable[[V, int | None], Awaitable[int]],
    merge: Callable[[V | None], V],
) -> tuple[V, int]:
    """Store ``merge(current)`` over what is stored (None: nothing yet, so create);
    returns (value, revision). Settings and policies: a change merges into the latest."""

    async def write(current: Versioned[V] | None) -> tuple[V, int]:
        value = merge(current.value if current is not None else None)
        return value, await put(value, current.revision if current is not None else None)

    return await compare_and_set(what, read, write)


async def write_slot(
    keys: KeyStore, slot: str, build: Callable[[Existing], KeyRecord], what: str
) -> tuple[int, KeyRecord, Existing]:
    """Store ``build(existing)`` at ``slot``, create first; returns (revision, record,
    what it replaced)."""

    async def empty() -> Existing:
        return None

    async def read() -> Existing:
        return await keys.get(slot)

    async def write(existing: Existing) -> tuple[int, KeyRecord, Existing]:
        record = build(existing)
        if existing is None:
            return await keys.create(slot, record), record, None
        return await keys.update(slot, record, existing.revision), record, existing

    return await compare_and_set(what, read, write, first=empty)
