"""key-vault use cases: one small function per subject, dependencies passed in."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable
from functools import partial

from byok_contracts import (
    SUITE,
    MalformedRequest,
    SealBindingError,
    Unprocessable,
    check_provider,
    subjects,
)
from byok_contracts.sealing import (
    ConfigureEnvelope,
    check_configure_binding,
    parse_configure_envelope,
)
from byok_contracts.v1 import (
    AccountChanged,
    AccountPolicy,
    AccountPolicyReply,
    ConfigureAccount,
    ConfigureKey,
    ConfigureScope,
    KeyConfigured,
    KeyList,
    KeyRecord,
    KeyRemoved,
    KeyState,
    KeyStateChanged,
    ListKeys,
    PublicKey,
    RemoveKey,
    Scope,
    ScopeChanged,
    ScopeSettingsReply,
    SetKeyEnabled,
    key_slot,
    utcnow,
)

from . import domain
from .deps import Deps, key_event, publish_confirmed
from .errors import KeyNotConfigured, ReadOnlyScope
from .internal import revoke, rotate, unseal
from .ports import Versioned
from .tenancy import account_for, check_owner, claim_owner
from .writes import compare_and_set, merge_entry, write_slot

__all__ = [
    "Deps",
    "configure",
    "configure_account",
    "configure_scope",
    "list_keys",
    "public_key",
    "remove",
    "revoke",
    "rotate",
    "set_enabled",
    "unseal",
]

log = logging.getLogger(__name__)

_STATE_EVENTS = {
    KeyState.ACTIVE: ("enabled", subjects.EVENTS_KEYS_ENABLED),
    KeyState.DISABLED: ("disabled", subjects.EVENTS_KEYS_DISABLED),
}


async def public_key(deps: Deps) -> PublicKey:
    pair = await deps.sealing.current()
    return PublicKey(public_key=pair.public_b64, kid=pair.kid, suite=SUITE)


async def configure(
    cmd: ConfigureKey,
    deps: Deps,
    alongside: Callable[[KeyConfigured], Awaitable[None]] | None = None,
) -> KeyConfigured:
    """Open, detect, check the model, validate live, then encrypt and store (in that order).

    ``alongside(reply)`` runs with the event's publish, once the record is stored (the
    success's audit entry); both are done before the reply."""
    # The owner claim, the read-only check, the single-use check and (when a model is
    # asked for) the plan's policy: one round trip, during which the seal is opened (CPU).
    # Their refusals come first, as if read before opening.
    acting = account_for(cmd.scope, cmd.account)
    reads = asyncio.gather(
        claim_owner(cmd.scope, cmd.account, deps.owners),
        _check_writable(cmd.scope, deps),
        _policy(acting, deps, needed=cmd.model is not None),
        _first_use(cmd, deps),
    )
    await asyncio.sleep(0)  # the reads go out before the CPU work starts
    try:
        # The seal must name the account the claim is made for: a claim that fails is a
        # 403 below, before this is known.
        key = domain.clean_key(_bound(cmd, await _open(cmd, deps), acting))
        provider = check_provider(key, cmd.provider)
        catalog_model = _catalog_model(cmd, deps, provider)
    except BaseException:
        await reads
        raise
    # Validate before touching the slot: a rejected replacement leaves the old key in place.
    # The encryption does not depend on the answer, so it runs meanwhile (Vault: one HTTP
    # round trip off the critical path); a rejected key's ciphertext is simply dropped.
    # A request known good but for the reads (a catalog model) is checked while they are
    # in flight; a custom model waits for the plan's policy before the key leaves.
    checks = None if catalog_model is None else _validate_and_encrypt(key, provider, cmd, deps)
    try:
        owner, _, policy, _ = await reads
    except BaseException:
        if checks is not None:
            checks.cancel()
        raise
    model = catalog_model or domain.choose_model(
        deps.catalog, provider, cmd.model, allow_custom=policy.allow_custom_models
    )
    checked, ciphertext = await (checks or _validate_and_encrypt(key, provider, cmd, deps))
    for failed in (checked, ciphertext):  # the provider's verdict first, as before
        if isinstance(failed, BaseException):
            raise failed
    assert isinstance(ciphertext, str)
    slot = key_slot(cmd.scope, provider)
    fp = domain.fingerprint(deps.sealing.fingerprint_secret, key)
    key_id = domain.key_id_for(slot, fp)

    def build(existing: Versioned[KeyRecord] | None) -> KeyRecord:
        same = existing is not None and existing.value.key_id == key_id
        return domain.new_record(
            key_id=key_id,
            scope=cmd.scope,
            provider=provider,
            key=key,
            fp=fp,
            model=model,
            ciphertext=ciphertext,
            now=utcnow(),
            created_at=existing.value.created_at if existing is not None and same else None,
            actor=cmd.actor,
            account=owner,
        )

    # The index entry and the record in parallel: both land before the event goes out.
    _, (revision, record, existing) = await asyncio.gather(
        deps.keys.index(key_id, slot),
        write_slot(deps.keys, slot, build, f"{provider} key of this scope"),
    )
    same = existing is not None and existing.value.key_id == key_id
    if existing is not None and not same:
        await deps.keys.unindex(existing.value.key_id)
    event = key_event(
        "configured", record, KeyState.ACTIVE, revision, cmd.actor, request_id=cmd.request_id
    )
    reply = KeyConfigured(
        provider=record.provider,
        key_id=key_id,
        hint=record.hint,
        model=model,
        scope=cmd.scope,
        request_id=cmd.request_id,
    )
    effects: list[Awaitable[None]] = [
        deps.events.publish(
            subjects.EVENTS_KEYS_CONFIGURED, event, msg_id=f"{key_id}.{revision}.configured"
        )
    ]
    if alongside is not None:
        effects.append(alongside(reply))
    # The event and the audit entry are independent: one round trip for both, and the
    # reply waits for every acknowledgement.
    for outcome in await asyncio.gather(*effects, return_exceptions=True):
        if isinstance(outcome, BaseException):
            raise outcome
    log.info(
        "key configured",
        extra={
            "scope": str(cmd.scope),
            "provider": provider,
            "key_id": key_id,
            "hint": record.hint,
        },
    )
    return reply


async def remove(cmd: RemoveKey, deps: Deps) -> KeyRemoved:
    await check_owner(cmd.scope, cmd.account, deps.owners)
    await _check_writable(cmd.scope, deps)
    slot = key_slot(cmd.scope, cmd.provider)

    async def delete(existing: Versioned[KeyRecord]) -> KeyRecord:
        await deps.keys.delete(slot, existing.revision)
        return existing.value

    record = await compare_and_set(
        f"{cmd.provider} key of this scope", _reader(slot, cmd.scope, cmd.provider, deps), delete
    )
    await deps.keys.unindex(record.key_id)
    event = key_event("removed", record, None, 0, cmd.actor)
    await publish_confirmed(subjects.EVENTS_KEYS_REMOVED, event, deps)
    log.info("key removed", extra={"scope": str(cmd.scope), "key_id": record.key_id})
    return KeyRemoved(provider=cmd.provider, key_id=record.key_id)


async def list_keys(cmd: ListKeys, deps: Deps) -> KeyList:
    if cmd.account is not None:
        await check_owner(cmd.scope, cmd.account, deps.owners)
    infos = []
    for provider in deps.catalog.providers():
        entry = await deps.keys.get(key_slot(cmd.scope, provider))
        if entry is not None:
            infos.append(domain.key_info(entry.value))
    return KeyList(keys=infos)


async def set_enabled(cmd: SetKeyEnabled, deps: Deps) -> KeyStateChanged:
    await check_owner(cmd.scope, cmd.account, deps.owners)
    await _check_writable(cmd.scope, deps)
    slot = key_slot(cmd.scope, cmd.provider)

    async def change(existing: Versioned[KeyRecord]) -> tuple[KeyRecord, int | None]:
        state = domain.state_for(existing.value, cmd.enabled)
        if state is existing.value.state:
            return existing.value, None
        record = existing.value.model_copy(
            update={"state": state, "updated_at": utcnow(), "actor": cmd.actor}
        )
        return record, await deps.keys.update(slot, record, existing.revision)

    record, revision = await compare_and_set(
        f"{cmd.provider} key of this scope", _reader(slot, cmd.scope, cmd.provider, deps), change
    )
    if revision is not None:
        name, subject = _STATE_EVENTS[record.state]
        event = key_event(name, record, record.state, revision, cmd.actor)
        await publish_confirmed(subject, event, deps)
    return KeyStateChanged(provider=cmd.provider, state=record.state, key_id=record.key_id)


async def configure_scope(cmd: ConfigureScope, deps: Deps) -> ScopeSettingsReply:
    await claim_owner(cmd.scope, cmd.account, deps.owners)
    settings, revision = await merge_entry(
        "settings of this scope",
        partial(deps.settings.get_scope, cmd.scope.key),
        deps.settings.put_scope,
        partial(domain.merge_scope, cmd=cmd),
    )
    event = ScopeChanged(settings=settings, revision=revision)
    await publish_confirmed(subjects.EVENTS_SCOPES_CHANGED, event, deps)
    return ScopeSettingsReply(**settings.model_dump())


async def configure_account(cmd: ConfigureAccount, deps: Deps) -> AccountPolicyReply:
    policy, revision = await merge_entry(
        "policy of this account",
        partial(deps.settings.get_account, cmd.account),
        deps.settings.put_account,
        partial(domain.merge_account, cmd=cmd),
    )
    event = AccountChanged(policy=policy, revision=revision)
    await publish_confirmed(subjects.EVENTS_ACCOUNTS_CHANGED, event, deps)
    return AccountPolicyReply(**policy.model_dump())


def _catalog_model(cmd: ConfigureKey, deps: Deps, provider: str) -> str | None:
    """The model when the catalog alone decides it (none asked for, or a curated one);
    None when only the account's policy can (a custom model, allowed or a 422)."""
    try:
        return domain.choose_model(deps.catalog, provider, cmd.model, allow_custom=False)
    except Unprocessable:
        return None


def _validate_and_encrypt(
    key: str, provider: str, cmd: ConfigureKey, deps: Deps
) -> asyncio.Future[tuple[BaseException | None, str | BaseException]]:
    """The provider's verdict and the ciphertext, both at once; failures as values."""
    return asyncio.gather(
        deps.validator.validate(provider, key.encode()),
        deps.cipher.encrypt(key.encode(), cmd.scope.key),
        return_exceptions=True,
    )


async def _open(cmd: ConfigureKey, deps: Deps) -> ConfigureEnvelope:
    """Open the configure seal and read the envelope inside."""
    plaintext = await deps.sealing.open(cmd.sealed_key, cmd.kid, subjects.KEYS_CONFIGURE)
    try:
        return parse_configure_envelope(plaintext)
    except SealBindingError as exc:
        raise MalformedRequest(exc.message, error=exc.error) from None


def _bound(cmd: ConfigureKey, envelope: ConfigureEnvelope, owner: str | None) -> bytes:
    """The key, once the envelope is known to be made for this scope, account and request."""
    try:
        check_configure_binding(
            envelope, accounts=(cmd.account, owner), scope=cmd.scope, request_id=cmd.request_id
        )
    except SealBindingError as exc:
        raise MalformedRequest(exc.message, error=exc.error) from None
    return envelope.key.encode()


async def _first_use(cmd: ConfigureKey, deps: Deps) -> None:
    """A sealed key is good for one request: the same body again is refused, even to the
    same scope (a body for another scope, account or request fails its binding instead)."""
    request = "\0".join((cmd.sealed_key, cmd.scope.key, cmd.account or "", cmd.request_id or ""))
    if not await deps.seals.first_use(hashlib.sha256(request.encode()).hexdigest()[:40]):
        raise MalformedRequest(
            "This sealed key was sent before; seal it again for each request",
            error="seal_replayed",
        )


async def _check_writable(scope: Scope, deps: Deps) -> None:
    current = await deps.settings.get_scope(scope.key)
    if current is not None and current.value.read_only:
        raise ReadOnlyScope(f"This {scope.type.value} is read-only")


async def _policy(account: str | None, deps: Deps, *, needed: bool) -> AccountPolicy:
    """The account's plan rules; configure reads them only for a model asked for (the
    provider's default needs no policy), so the common request costs one KV read less."""
    if account is None or not needed:
        return AccountPolicy(account=account or "unknown")
    current = await deps.settings.get_account(account)
    return current.value if current is not None else AccountPolicy(account=account)


def _reader(
    slot: str, scope: Scope, provider: str, deps: Deps
) -> Callable[[], Awaitable[Versioned[KeyRecord]]]:
    """Reads the record at ``slot``; 404 when the scope has no key for ``provider``."""

    async def read() -> Versioned[KeyRecord]:
        entry = await deps.keys.get(slot)
        if entry is None:
            raise KeyNotConfigured(f"No {provider} key configured for this {scope.type.value}")
        return entry

    return read
