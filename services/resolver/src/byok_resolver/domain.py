"""The resolve decision of DESIGN.md section 5, as one pure function.

:func:`decide` reads a :class:`StateView` (the caches, or a dict in tests) and
returns a :class:`Decision` or raises one of :mod:`byok_resolver.errors`. It
does no I/O and never sees key material: sealing happens in the handler.

Choices where the spec is silent (each has a test in ``test_resolver_decision``):

- A ``byok:<p>`` route pin fixes the provider to ``p`` *and* prefers BYOK for
  that scope's traffic whatever the account mode (Waypath's "BYOK Claude"
  buddy); without a usable key it still falls back to the platform. The pin
  wins over a ``provider`` in the request.
- ``metered`` means platform only: ``source: byok`` there is a 403
  ``route_metered``.
- ``source: byok`` on a plan with ``byok_allowed: false`` is a 403
  ``byok_not_allowed``; ``auto`` on such a plan is platform only.
- Scopes of type ``platform`` in a chain are never BYOK candidates: the
  operator's keys are the platform candidate.
- With no provider requested, pinned or set as the scope's ``active_provider``,
  a scope with several keys offers them in the order anthropic, openai, gemini.
  A requested curated model with no provider selects the model's provider.
- An account with no credit record has balance 0: no platform key until a
  grant. ``platform_fallback: false`` only stops the ``byok_first`` fallback;
  ``credits_first``, ``metered`` and ``source: credits`` use the platform as
  their primary path.
- Nothing usable: 402 when the platform path exists but the balance is not
  above zero, else 404 ``No API key configured for this <first scope type>``.
- ``credits_paused`` is true exactly when the answer is a BYOK key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

from byok_contracts import Catalog, Unprocessable, WrongAccount
from byok_contracts.v1 import (
    AccountPolicy,
    KeyState,
    Mode,
    Resolve,
    Scope,
    ScopeSettings,
    ScopeType,
)

from .errors import (
    ByokNotAllowed,
    ModelNotAllowed,
    NoCredits,
    NoKeyConfigured,
    NoPlatformKey,
    RouteMetered,
)

__all__ = ["PROVIDER_ORDER", "Decision", "KeyEntry", "StateView", "check_tenancy", "decide"]

PROVIDER_ORDER = ("anthropic", "openai", "gemini")
PLATFORM = Scope.platform()


@dataclass(frozen=True, slots=True)
class KeyEntry:
    """What the resolver knows of a stored key: no ciphertext, no material."""

    key_id: str
    scope: Scope
    provider: str
    model: str
    state: KeyState
    revision: int = 0
    account: str | None = None  # the owner of ``scope`` (None: platform, or unknown)

    @property
    def usable(self) -> bool:
        return self.state is KeyState.ACTIVE


class StateView(Protocol):
    """Read side of the resolver caches."""

    def settings(self, scope: Scope) -> ScopeSettings | None: ...

    def keys(self, scope: Scope) -> Mapping[str, KeyEntry]: ...

    def policy(self, account: str) -> AccountPolicy | None: ...

    def balance(self, account: str) -> int | None: ...

    def owner(self, scope: Scope) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Decision:
    source: Literal["byok", "platform"]
    key: KeyEntry
    model: str
    credits_paused: bool
    reason: str


def decide(request: Resolve, state: StateView, catalog: Catalog) -> Decision:
    """Which key and model serve ``request`` (DESIGN.md section 5)."""
    check_tenancy(request, state)
    policy = state.policy(request.account) or AccountPolicy(account=request.account)
    balance = state.balance(request.account) or 0
    first_type = request.chain[0].type.value

    # 1. Route pin: the first scope whose route is not auto decides.
    pin, pin_scope = "auto", None
    for scope in request.chain:
        settings = state.settings(scope)
        if settings is not None and settings.route != "auto":
            pin, pin_scope = settings.route, scope
            break
    metered = pin == "metered"
    provider: str | None = request.provider
    if pin.startswith("byok:"):
        provider = pin.removeprefix("byok:")
    elif provider is None and request.model is not None:
        provider = _provider_of(catalog, request.model)
    _check_model_early(request, provider, policy, catalog)

    def byok(key: KeyEntry, rule: str) -> Decision:
        model, why = _model(request, key, policy, catalog)
        reason = f"BYOK {key.provider} key at {key.scope}: {rule}; model {model} ({why})"
        return Decision("byok", key, model, True, reason)

    def platform(key: KeyEntry, rule: str) -> Decision:
        model, why = _model(request, key, policy, catalog)
        reason = f"platform {key.provider} key: {rule}; model {model} ({why})"
        return Decision("platform", key, model, False, reason)

    def platform_only(rule: str) -> Decision:
        if balance <= 0:
            raise NoCredits(f"No credits left for this account ({rule})")
        key = _platform_key(state, provider)
        if key is None:
            raise NoPlatformKey(f"No platform key configured for {provider or 'any provider'}")
        return platform(key, f"{rule}, {balance} credits left")

    # 2. BYOK candidate (never on a plan without BYOK, never on a metered route).
    eligible = policy.byok_allowed and not metered
    found = _byok_candidate(request.chain, state, provider) if eligible else None

    # 4. Decision.
    if request.source == "byok":
        if metered:
            raise RouteMetered(f"{pin_scope} is routed to metered; it does not use BYOK keys")
        if not policy.byok_allowed:
            raise ByokNotAllowed(f"BYOK is not available on the {policy.plan} plan")
        if found is None:
            raise NoKeyConfigured(first_type)
        return byok(found[0], f"{found[1]}; source byok requested")
    if request.source == "credits":
        return platform_only("source credits requested")
    if metered:
        return platform_only(f"{pin_scope} is routed to metered")
    if not policy.byok_allowed:
        return platform_only(f"BYOK is not on the {policy.plan} plan")

    platform_key = _platform_key(state, provider) if balance > 0 else None
    if pin.startswith("byok:") or policy.mode is Mode.BYOK_FIRST:
        mode = f"{pin_scope} is routed to {pin}" if pin != "auto" else "account mode byok_first"
        if found is not None:
            return byok(found[0], f"{found[1]} ({mode})")
        if policy.platform_fallback and platform_key is not None:
            rule = f"no usable BYOK key in the chain, platform fallback with {balance} credits left"
            return platform(platform_key, rule)
        raise _nothing(request, state, provider, balance, policy.platform_fallback, first_type)

    # credits_first: platform while credits last, then BYOK as overflow.
    if platform_key is not None:
        return platform(platform_key, f"account mode credits_first, {balance} credits left")
    if found is not None:
        return byok(found[0], f"{found[1]} (credits_first overflow: no platform credits left)")
    raise _nothing(request, state, provider, balance, True, first_type)


def _nothing(
    request: Resolve,
    state: StateView,
    provider: str | None,
    balance: int,
    platform_path: bool,
    first_type: str,
) -> Exception:
    if platform_path and balance <= 0 and _platform_key(state, provider) is not None:
        return NoCredits(
            f"No credits left for account {request.account} and "
            f"no API key configured for this {first_type}"
        )
    return NoKeyConfigured(first_type)


def _byok_candidate(
    chain: list[Scope], state: StateView, provider: str | None
) -> tuple[KeyEntry, str] | None:
    """The most specific scope with a usable key, and the words for why."""
    for scope in chain:
        if scope.type is ScopeType.PLATFORM:
            continue
        keys = state.keys(scope)
        if not keys:
            continue
        settings = state.settings(scope)
        if settings is not None and not settings.byok_enabled:
            continue
        if provider is not None:
            key = keys.get(provider)
            if key is not None and key.usable:
                return key, f"most specific scope in the chain with an active {provider} key"
            continue
        active = settings.active_provider if settings is not None else None
        if active is not None:
            key = keys.get(active)
            if key is not None and key.usable:
                return key, f"most specific scope in the chain with a key; active provider {active}"
            continue
        for name in PROVIDER_ORDER:
            key = keys.get(name)
            if key is not None and key.usable:
                return key, "most specific scope in the chain with an active key"
    return None


def check_tenancy(request: Resolve, state: StateView) -> None:
    """403 ``wrong_account`` when a chain scope (not platform) belongs to another account.

    The owner comes from ``byok-owners`` and, atomically with each key, from the key
    record itself; a key without a known owner is served to nobody (fail closed).
    """
    account = request.account
    for scope in request.chain:
        if scope.type is ScopeType.PLATFORM:
            continue
        owner = state.owner(scope)
        if owner is not None and owner != account:
            raise WrongAccount("A scope in the chain belongs to another account")
        for key in state.keys(scope).values():
            if key.account != account:
                raise WrongAccount("A scope in the chain belongs to another account")


def _platform_key(state: StateView, provider: str | None) -> KeyEntry | None:
    keys = state.keys(PLATFORM)
    if not keys:
        return None
    if provider is None:
        settings = state.settings(PLATFORM)
        provider = settings.active_provider if settings is not None else None
    names = (provider,) if provider is not None else PROVIDER_ORDER
    for name in names:
        key = keys.get(name)
        if key is not None and key.usable:
            return key
    return None


def _provider_of(catalog: Catalog, model: str) -> str | None:
    for name in catalog.providers():
        if catalog.is_curated(name, model):
            return name
    return None


def _check_model_early(
    request: Resolve, provider: str | None, policy: AccountPolicy, catalog: Catalog
) -> None:
    """A model that no key could make valid is a 422 before any key is looked at."""
    model = request.model
    if model is None or policy.allow_custom_models:
        return
    if provider is not None:
        _checked(catalog, provider, model, allow_custom=False)
    elif _provider_of(catalog, model) is None:
        raise ModelNotAllowed(f"Model {model} is not in the curated catalog")


def _model(
    request: Resolve, key: KeyEntry, policy: AccountPolicy, catalog: Catalog
) -> tuple[str, str]:
    if request.model is not None:
        allow = policy.allow_custom_models
        model = _checked(catalog, key.provider, request.model, allow_custom=allow)
        curated = catalog.is_curated(key.provider, model)
        return model, "requested" if curated else "requested custom model"
    if key.model:
        return key.model, "the key's model"
    return catalog.default_model(key.provider), "provider default"


def _checked(catalog: Catalog, provider: str, model: str, *, allow_custom: bool) -> str:
    try:
        return catalog.check_model(provider, model, allow_custom=allow_custom)
    except Unprocessable as exc:
        raise ModelNotAllowed(exc.message) from None
